/** Where packages/db reports what it does; the app adapts its own logger to this shape. */
export type DbLog = (level: "debug" | "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** A DbLog that drops everything, for callers that pass none. */
export const silentLog: DbLog = () => {};
