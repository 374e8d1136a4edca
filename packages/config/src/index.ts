export { BYTES_PER_PIXEL, computeMaxPixels, LOG_LEVELS, type Config, type LogLevel, type Mode, type Role } from "./config.js";
export { ConfigError, type ConfigIssue } from "./config-error.js";
export type { Env } from "./env-reader.js";
export { loadConfig, type LoadConfigOptions } from "./load-config.js";
export type { Cidr, OutboundAllow } from "./parse-values.js";
export { redactConfig } from "./redact-config.js";
export { describeSettings, type SettingDescription } from "./settings.js";
