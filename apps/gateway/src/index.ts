export { buildGateway } from "./app.js";
export type { GatewayDeps, GatewaySettings } from "./types.js";
export { parseAuthorization } from "./auth.js";
