export * from "./policy.js";
export * from "./guarded-lookup.js";
export * from "./safe-fetch.js";
export * from "./network-errors.js";
export { REFUSED_V4, REFUSED_V6 } from "./address-ranges.js";
export type { RefusedRange } from "./address-ranges.js";
export { retireAgent } from "./retire-agent.js";
