export { startWorker, type WorkerDeps, type RunningWorker, type EngineProbe } from "./start-worker.js";
export { runTaskMessage, type RunnerDeps } from "./run-message.js";
