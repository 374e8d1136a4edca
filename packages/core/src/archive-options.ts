/**
 * The options of the archive engine (extract, and convert between archive formats), as one
 * table like compress's: validated in the worker, listed by the options endpoint.
 */
import { invalidOption, parseOptionsWith, type OptionSpec } from "./option-table.js";

/** Parsed archive options. Absent means "not given". */
export interface ArchiveOptions {
  /** The password of an encrypted zip or 7z. */
  password?: string;
}

/** The archive options' table. */
export const ARCHIVE_OPTIONS: readonly OptionSpec<keyof ArchiveOptions>[] = [
  {
    name: "password",
    type: "text",
    aliases: ["archive_password"],
    valuesText: "the archive's password (a non-empty string)",
    appliesTo: ["zip", "7z"],
    defaultText: "none: an encrypted archive fails with password_protected",
    description: "Password of an encrypted zip or 7z archive (read with 7-Zip). Ignored for archives that are not encrypted.",
  },
];

/** Parses the `options` of an archive task; unknown options are listed in `ignored`, bad values throw invalid_option. */
export function parseArchiveOptions(options: unknown): { values: ArchiveOptions; ignored: string[] } {
  // A password is taken as given: the shared text parser trims, and spaces can be part of one.
  const { values, ignored } = parseOptionsWith(ARCHIVE_OPTIONS, options, (spec, givenAs, raw) => {
    if (typeof raw !== "string" || raw === "") throw invalidOption(spec, givenAs, raw);
    return raw;
  });
  return { values: values as ArchiveOptions, ignored };
}
