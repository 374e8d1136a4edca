/** Ending an HTTP agent for good: its sockets closed and no new one opened. */
import type { Agent as HttpAgent, ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";

type Connect = (options: ClientRequestArgs, callback?: (err: Error | null, stream?: Duplex) => void) => Duplex | null | undefined;

/**
 * Destroys every socket of `agent`, in use or idle, and makes it refuse every later connection
 * with `ERR_AGENT_RETIRED`. `Agent.destroy()` alone is not enough to stop a client library:
 * a request it retries after the destroy simply opens a new socket (the AWS SDK does, with a
 * multipart part whose connection was closed under it). Idempotent.
 */
export function retireAgent(agent: HttpAgent, what = "The connection"): void {
  const patched = agent as HttpAgent & { createConnection: Connect; retired?: true };
  if (patched.retired) return;
  patched.retired = true;
  patched.createConnection = (_options, callback) => {
    const err = Object.assign(new Error(`${what} was closed.`), { code: "ERR_AGENT_RETIRED" });
    if (!callback) throw err;
    process.nextTick(callback, err);
    return undefined;
  };
  agent.destroy();
}
