/** Reads settings from an environment, collecting every problem instead of stopping at the first. */
import type { ConfigIssue } from "./config-error.js";
import { InvalidValue } from "./parse-values.js";
import { findSetting, listKnownPrefixedNames, type SettingName } from "./settings.js";

/** The environment as `process.env` gives it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Parses settings by name; a bad value becomes an issue and the setting counts as failed. */
export class EnvReader {
  readonly issues: ConfigIssue[] = [];
  private readonly failed = new Set<string>();

  constructor(private readonly env: Env) {}

  /** The value as set, or undefined when unset or blank (`FOO=` in a compose file means unset). */
  raw(name: SettingName): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value;
  }

  /** Parses the variable, or its documented default when unset; on a bad value records an issue and returns the default. */
  get<T>(name: SettingName, parse: (raw: string) => T): T {
    const setting = findSetting(name);
    if (setting.derived) throw new Error(`${name} has a derived default: read it with optional()`);
    const value = this.optional(name, parse);
    return value !== undefined ? value : parse(setting.default);
  }

  /** Parses the variable when set; undefined when unset or bad (a bad value is recorded). */
  optional<T>(name: SettingName, parse: (raw: string) => T): T | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    try {
      return parse(raw);
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err;
      const shown = findSetting(name).secret ? "(value hidden)" : JSON.stringify(raw);
      this.fail([name], `${name}=${shown}: ${err.message}.`);
      return undefined;
    }
  }

  /** True when none of the variables had a bad value (cross-checks skip settings that already failed). */
  ok(...names: SettingName[]): boolean {
    return names.every((name) => !this.failed.has(name));
  }

  /** Records a problem; `variables[0]` is the one to change. */
  fail(variables: readonly string[], message: string): void {
    for (const name of variables) this.failed.add(name);
    this.issues.push({ variables, message });
  }

  /** Records every `TRANSMUTE_*` variable that is not a setting, with the nearest known name. */
  checkUnknownNames(): void {
    const known = listKnownPrefixedNames();
    for (const name of Object.keys(this.env).sort()) {
      if (!name.startsWith("TRANSMUTE_") || known.includes(name)) continue;
      const nearest = findNearest(name, known);
      const hint = nearest ? ` Did you mean ${nearest}?` : "";
      this.fail([name], `${name} is not a Transmute setting: correct or remove it.${hint} Known: ${known.join(", ")}.`);
    }
  }
}

function findNearest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4; // further than 3 edits is a different word, not a typo
  for (const candidate of candidates) {
    const distance = measureEditDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function measureEditDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
