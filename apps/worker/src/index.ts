export { startWorker, type WorkerDeps, type RunningWorker, type EngineProbe } from "./start-worker.js";
export { startWebhookDelivery, signWebhookBody, postWebhook, WEBHOOK_RESPONSE_READ_LIMIT, type WebhookDelivery, type WebhookDeliverySettings } from "./webhook-delivery.js";
export { runTaskMessage, type RunnerDeps } from "./run-message.js";
