export type * from "./types.js";
export { createInProcessQueue, createInProcessEventBus } from "./in-process.js";
export { createBullQueue, createRedisEventBus, type BullQueueOptions } from "./bullmq.js";
