/**
 * The shared machinery of option tables (compress, merge): one row per option with its type,
 * range, accepted words and the formats it applies to; one parser that checks values and names
 * the offending option with what would be accepted.
 */
import { AppError } from "./errors.js";

/** The kinds of value a table option takes. */
export type OptionKind = "integer" | "number" | "boolean" | "enum" | "text";

/** One row of an option table. */
export interface OptionSpec<N extends string = string> {
  /** Canonical option name. */
  readonly name: N;
  /** The kind of value; numbers may also arrive as numeric strings ("70"), booleans as "true"/"false". */
  readonly type: OptionKind;
  /** Other names accepted for the same option. */
  readonly aliases: readonly string[];
  /** Smallest accepted number, inclusive. */
  readonly min?: number;
  /** Largest accepted number, inclusive. */
  readonly max?: number;
  /** Unit of the number, for the docs. */
  readonly unit?: string;
  /** The words an enum takes, canonical spelling (matched ignoring case, spaces, `-` and `_`). */
  readonly values?: readonly string[];
  /** Other words for enum values (`middle` for `center`). */
  readonly valueAliases?: Readonly<Record<string, string>>;
  /** What a text option takes, in words, for messages and docs. */
  readonly valuesText?: string;
  /** Formats (input formats for compress, output formats for merge) the option affects; absent: all. */
  readonly appliesTo?: readonly string[];
  /** The behaviour when the option is absent, for the docs. */
  readonly defaultText: string;
  /** What the option does, for the docs. */
  readonly description: string;
}

/** The accepted values of an option in words, as error messages and docs show them. */
export function describeOptionValues(spec: OptionSpec): string {
  switch (spec.type) {
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${(spec.values ?? []).join(", ")}`;
    case "text":
      return spec.valuesText ?? "a string";
    default: {
      const kind = spec.type === "integer" ? "a whole number" : "a number";
      return `${kind} from ${spec.min} to ${spec.max}${spec.unit === undefined ? "" : ` (${spec.unit})`}`;
    }
  }
}

/** The message of a bad option value: the option as given, what was got, what is accepted. */
export function invalidOption(spec: OptionSpec, givenAs: string, raw: unknown): AppError {
  return new AppError("invalid_option", `option ${givenAs} must be ${describeOptionValues(spec)}; got ${showValue(raw)}`);
}

/**
 * Parses an `options` object against `table`: known options are checked and converted, unknown
 * ones listed in `ignored`; null and "" mean "not given". Two names of one option with
 * different values are an error. Applicability to a format is the caller's business.
 */
export function parseOptionsWith<S extends { readonly name: string; readonly aliases: readonly string[] } = OptionSpec>(
  table: readonly S[],
  options: unknown,
  parseValue: (spec: S, givenAs: string, raw: unknown) => unknown = parseOptionValue as unknown as (spec: S, givenAs: string, raw: unknown) => unknown,
): { values: Record<string, unknown>; ignored: string[]; givenAs: Map<string, string> } {
  if (options === undefined || options === null) return { values: {}, ignored: [], givenAs: new Map() };
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new AppError("invalid_option", `options must be an object; got ${showValue(options)}`);
  }
  const byName = new Map(table.flatMap((spec) => [spec.name, ...spec.aliases].map((n) => [n, spec] as const)));
  const values: Record<string, unknown> = {};
  const givenAs = new Map<string, string>();
  const ignored: string[] = [];
  for (const [key, raw] of Object.entries(options)) {
    const spec = byName.get(key);
    if (spec === undefined) {
      ignored.push(key);
      continue;
    }
    if (raw === null || raw === undefined || raw === "") continue;
    const value = parseValue(spec, key, raw);
    const earlier = givenAs.get(spec.name);
    if (earlier !== undefined && JSON.stringify(values[spec.name]) !== JSON.stringify(value)) {
      throw new AppError("invalid_option", `options ${earlier} and ${key} are the same option and were given different values`);
    }
    values[spec.name] = value;
    givenAs.set(spec.name, key);
  }
  return { values, ignored, givenAs };
}

/** Checks and converts one option value; throws invalid_option naming `givenAs`. */
export function parseOptionValue(spec: OptionSpec, givenAs: string, raw: unknown): unknown {
  const invalid = () => invalidOption(spec, givenAs, raw);
  switch (spec.type) {
    case "boolean": {
      const flag = toBoolean(raw);
      if (flag === null) throw invalid();
      return flag;
    }
    case "enum": {
      if (typeof raw !== "string") throw invalid();
      const key = enumKey(raw);
      const aliased = spec.valueAliases?.[key];
      const found = (spec.values ?? []).find((v) => enumKey(v) === key || (aliased !== undefined && v === aliased));
      if (found === undefined) throw invalid();
      return found;
    }
    case "text": {
      if (typeof raw !== "string" || raw.trim() === "") throw invalid();
      return raw.trim();
    }
    default: {
      const n = toNumberInRange(spec, raw);
      if (n === null) throw invalid();
      return n;
    }
  }
}

/** Enum words match ignoring case, spaces, `-` and `_`: "Top Left", "top-left" and "TopLeft" are one. */
function enumKey(text: string): string {
  return text.trim().toLowerCase().replace(/[\s_-]+/g, "");
}

/** A finite number, or a string holding a plain decimal; null for anything else. */
export function toNumber(raw: unknown): number | null {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : null;
  // Plain decimals only: "1e3", "0x10" and "" are typos far more often than intent.
  if (typeof raw === "string" && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/.test(raw)) return Number(raw);
  return null;
}

/** A value as messages quote it, cut at 60 characters. */
export function showValue(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A boolean option value: true/false, 1/0 and their strings; null for anything else. */
export function toBoolean(raw: unknown): boolean | null {
  if (typeof raw === "boolean") return raw;
  const text = typeof raw === "string" ? raw.trim().toLowerCase() : raw;
  if (text === "true" || text === 1 || text === "1") return true;
  if (text === "false" || text === 0 || text === "0") return false;
  return null;
}

/** A number (or numeric string) of the spec's kind within its range; null when it is not one. */
export function toNumberInRange(spec: { type: string; min?: number; max?: number }, raw: unknown): number | null {
  const n = toNumber(raw);
  if (n === null || (spec.type === "integer" && !Number.isInteger(n))) return null;
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return null;
  return n;
}
