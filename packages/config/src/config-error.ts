/** The error a bad environment raises at boot: the app prints its message and exits 1. */

/** One problem with the environment. */
export interface ConfigIssue {
  /** The variables involved, the first being the one to change. */
  readonly variables: readonly string[];
  /** What is wrong and how to fix it; starts with the variable's name. */
  readonly message: string;
}

/** Every problem found in the environment at once, so one restart can fix them all. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** The problems: unknown names first, then bad values in the documented order, then impossible combinations. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map((issue) => `  - ${issue.message}`);
    super(`Invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`);
    this.issues = issues;
  }
}
