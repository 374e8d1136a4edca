/**
 * The two seams between the processes of Transmute: the task queue (ready task ids, one queue
 * per engine class) and the event bus (state changes, for /wait, realtime and webhooks).
 * Both carry ids only; the database is the truth, so a lost or duplicated message costs at most
 * a re-read, never a wrong state.
 */

/** A message on a task queue: a task that became ready, or was taken back from a lost worker. */
export interface TaskMessage {
  taskId: string;
}

/** Runs one task message; resolves when done. Throwing only logs: task failures live in the database. */
export type TaskHandler = (message: TaskMessage) => Promise<void>;

/** A running consumer of one or more engine-class queues. */
export interface QueueConsumer {
  /** Stops taking messages and waits for the running handlers to finish. */
  close(): Promise<void>;
}

/** The task queue. */
export interface TaskQueue {
  readonly kind: "in-process" | "bullmq";
  /**
   * Enqueues a task on its engine class's queue. `dedupeKey` makes a repeated enqueue of the same
   * attempt a no-op while the first is still waiting.
   */
  enqueue(engineClass: string, message: TaskMessage, dedupeKey: string): Promise<void>;
  /** Consumes the queues of `engineClasses`, `concurrency` handlers at most per class. */
  consume(engineClasses: readonly string[], handler: TaskHandler, opts: { concurrency: number }): QueueConsumer;
  /** Closes connections; consumers must be closed first. */
  close(): Promise<void>;
}

/** A state change, as published after commit. */
export interface DomainEvent {
  type: string;
  accountId: string;
  jobId: string;
  taskId?: string;
  /** Milliseconds since the epoch when the change was committed. */
  at: number;
  [extra: string]: unknown;
}

/** The event bus. Every subscriber in every process receives every event once. */
export interface EventBus {
  readonly kind: "in-process" | "redis";
  publish(event: DomainEvent): Promise<void>;
  /** Returns the function that unsubscribes. */
  subscribe(listener: (event: DomainEvent) => void): () => void;
  close(): Promise<void>;
}
