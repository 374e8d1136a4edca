/**
 * Entry point of every process-pool child: loads the handler module named on the command line
 * and serves requests from the parent one at a time. The handler module exports
 * `handle(request): Promise<response>`; it knows nothing about IPC.
 */
import type { ChildMessage, RunMessage } from "./pool-protocol.js";
import { toWireError } from "./pool-protocol.js";

type Handler = (request: unknown) => unknown;

function send(message: ChildMessage): void {
  // The parent may have gone (or killed us) meanwhile; there is no one left to tell.
  process.send?.(message, undefined, undefined, () => undefined);
}

const moduleUrl = process.argv[2];
if (moduleUrl === undefined || process.send === undefined) {
  process.stderr.write("pool-child: run me with fork(), the handler module URL as the first argument\n");
  process.exit(64);
}
const handlerModule = (await import(moduleUrl)) as { handle?: Handler };
const handle = handlerModule.handle;
if (typeof handle !== "function") {
  process.stderr.write(`pool-child: ${moduleUrl} does not export a handle(request) function\n`);
  process.exit(65);
}

process.on("message", (message: RunMessage) => {
  if (message?.type !== "run") return;
  Promise.resolve()
    .then(() => handle(message.request))
    .then(
      (response) => send({ type: "result", id: message.id, ok: true, response }),
      (err: unknown) => send({ type: "result", id: message.id, ok: false, error: toWireError(err) }),
    );
});
// The parent died or closed the pool: nothing will ever ask us for work again.
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
