export { startTransmute, type StartOptions, type Transmute } from "./start.js";
