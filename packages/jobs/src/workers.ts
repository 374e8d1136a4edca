/**
 * Worker registrations: each worker process records its host, pid and engines (with versions)
 * and keeps a heartbeat; the gateway answers capability questions from these rows only.
 */
import type { Prisma, PrismaClient } from "@transmute/db";
import { forgetLiveEngineClasses } from "./routing.js";

/** What a worker registers. */
export interface WorkerRegistration {
  id: string;
  host: string;
  pid: number;
  /** `classes` (engine classes served) and `engines` (name, version, conversions). */
  engines: { classes: string[]; engines: Array<Record<string, unknown>> };
}

/** Records a worker at start. */
export async function registerWorker(prisma: PrismaClient, reg: WorkerRegistration): Promise<void> {
  const engines = reg.engines as unknown as Prisma.InputJsonValue;
  await prisma.worker.upsert({
    where: { id: reg.id },
    create: { id: reg.id, host: reg.host, pid: reg.pid, engines },
    update: { host: reg.host, pid: reg.pid, engines, heartbeatAt: new Date(), stoppedAt: null },
  });
  forgetLiveEngineClasses();
}

/** Refreshes a worker's heartbeat. */
export async function heartbeatWorker(prisma: PrismaClient, id: string): Promise<void> {
  await prisma.worker.updateMany({ where: { id }, data: { heartbeatAt: new Date() } });
}

/** Marks a worker stopped (clean shutdown). */
export async function unregisterWorker(prisma: PrismaClient, id: string): Promise<void> {
  await prisma.worker.updateMany({ where: { id }, data: { stoppedAt: new Date() } });
}

/** Live workers: heartbeat within `staleAfterSeconds`, not stopped. */
export async function listLiveWorkers(prisma: PrismaClient, staleAfterSeconds: number) {
  return prisma.worker.findMany({ where: { stoppedAt: null, heartbeatAt: { gt: new Date(Date.now() - staleAfterSeconds * 1000) } } });
}
