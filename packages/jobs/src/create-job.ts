/**
 * Job creation: parse and validate the request, resolve inputs that name tasks of earlier jobs,
 * stage large fields to storage, then write the job, its tasks, edges, upload slots and the
 * first work in one transaction. Creation rejects only what the payload alone makes impossible.
 */
import {
  AppError,
  extractSecrets,
  sealSecrets,
  OPERATIONS,
  createToken,
  getOperation,
  parseJobSpec,
  redactPayload,
  signParts,
  validateTaskPayload,
  type JobSpec,
} from "@transmute/core";
import { Prisma } from "@transmute/db";
import { enterJobCreation } from "./list-horizon.js";
import { emitEvent, engineTransaction, type Tx } from "./tx.js";
import { endTaskWithFiles, evaluateTask, refreshJobStatus } from "./transitions.js";
import type { EngineDeps, NewFile } from "./types.js";

/** A large payload field written to storage before the transaction; becomes the task's file. */
export type StageLargeField = (args: { taskId: string; operation: string; field: string; value: unknown; payload: Record<string, unknown> }) => Promise<NewFile>;

/** Options of createJob. */
export interface CreateJobOptions {
  /** Writes large fields (import/base64's `file`) to storage; the task completes with that file. */
  stageLargeField?: StageLargeField;
  /** Removes staged files when the transaction fails. */
  discardStaged?: (files: NewFile[]) => Promise<void>;
  /** The job's own webhook (its webhook_url, already checked): gets job.finished and job.failed. */
  webhookUrl?: string;
}

/** The signature parameter of an upload form. */
export function signUploadSlot(secret: string, slotId: string, expires: number): string {
  return signParts(secret, ["upload", slotId, String(expires)], 16);
}

/** Creates a job; returns its id. */
export async function createJob(deps: EngineDeps, accountId: string, body: unknown, opts: CreateJobOptions = {}): Promise<string> {
  const spec = parseJobSpec(body, (name) => OPERATIONS.has(name));
  for (const task of spec.tasks) {
    validateTaskPayload(task.name, task.operation, task.payload, task.inputs.length);
    const max = deps.settings.taskTimeoutMaxSeconds;
    if (max !== undefined && typeof task.payload.timeout === "number" && task.payload.timeout > max) {
      throw new AppError("invalid_payload", `Task "${task.name}": "timeout" is ${task.payload.timeout} s; this server allows at most ${max} s.`);
    }
  }
  await checkReferencedTasks(deps, accountId, spec);

  const jobId = crypto.randomUUID();
  const ids = new Map(spec.tasks.map((t) => [t.name, crypto.randomUUID()]));
  const staged = new Map<string, NewFile>();
  try {
    for (const task of spec.tasks) {
      const op = getOperation(task.operation);
      for (const field of op.largeFields) {
        if (task.payload[field] === undefined) continue;
        if (!opts.stageLargeField) throw new AppError("internal_error", `No stage for the large field "${field}".`);
        staged.set(task.name, await opts.stageLargeField({ taskId: ids.get(task.name)!, operation: task.operation, field, value: task.payload[field], payload: task.payload }));
      }
    }
    await engineTransaction(deps, async (tx) => {
      await writeJob(tx, deps, accountId, jobId, spec, ids, staged, opts.webhookUrl);
    });
  } catch (err) {
    if (staged.size > 0) await opts.discardStaged?.([...staged.values()]).catch(() => undefined);
    throw err;
  }
  return jobId;
}

async function checkReferencedTasks(deps: EngineDeps, accountId: string, spec: JobSpec): Promise<void> {
  const refIds = [...new Set(spec.tasks.flatMap((t) => t.inputs.flatMap((r) => (r.kind === "id" ? [r.id] : []))))];
  if (refIds.length === 0) return;
  const found = await deps.prisma.task.findMany({ where: { id: { in: refIds }, accountId }, select: { id: true } });
  const known = new Set(found.map((t) => t.id));
  for (const task of spec.tasks) {
    for (const ref of task.inputs) {
      if (ref.kind === "id" && !known.has(ref.id)) {
        // Another account's task answers exactly as an unknown one.
        throw new AppError("unknown_task", `Task "${task.name}": input "${ref.id}" names no task of this job and no existing task.`);
      }
    }
  }
}

async function writeJob(
  tx: Tx,
  deps: EngineDeps,
  accountId: string,
  jobId: string,
  spec: JobSpec,
  ids: Map<string, string>,
  staged: Map<string, NewFile>,
  webhookUrl?: string,
): Promise<void> {
  const { settings } = deps;
  // Creation stamps from the database's clock under the creation lock: cursor walks rely on it.
  const clock = await enterJobCreation(tx);
  await tx.job.create({ data: { id: jobId, accountId, tag: spec.tag, status: "created", createdAt: clock(), webhookUrl: webhookUrl ?? null } });
  const now = Date.now();
  for (const task of spec.tasks) {
    const op = getOperation(task.operation);
    const id = ids.get(task.name)!;
    const timeoutSec = typeof task.payload.timeout === "number" ? task.payload.timeout : null;
    await tx.task.create({
      data: {
        id,
        jobId,
        accountId,
        name: task.name,
        operation: task.operation,
        engineClass: "io",
        status: op.trigger === "external" ? "processing" : "created",
        startedAt: op.trigger === "external" ? new Date(now) : null,
        payload: redactPayload(task.operation, task.payload) as Prisma.InputJsonValue,
        secrets: sealedSecretsOf(settings.secret, task.operation, task.payload),
        ignoreError: task.ignoreError,
        timeoutSec,
        result: {},
        createdAt: clock(),
      },
    });
    if (task.inputs.length > 0) {
      await tx.taskEdge.createMany({
        data: task.inputs.map((ref, ordinal) => ({ taskId: id, dependsOnId: ref.kind === "name" ? ids.get(ref.name)! : ref.id, ordinal })),
      });
    }
    if (task.operation === "import/upload") {
      const slotId = createToken(24);
      const expires = now + settings.uploadExpiresSeconds * 1000;
      await tx.uploadSlot.create({
        data: {
          id: slotId,
          taskId: id,
          signature: signUploadSlot(settings.secret, slotId, expires),
          expiresAt: new Date(expires),
          sizeLimit: BigInt(settings.uploadSizeLimit),
          maxFileCount: 1,
          redirect: typeof task.payload.redirect === "string" ? task.payload.redirect : null,
        },
      });
    }
  }
  await emitEvent(tx, "job.created", { accountId, jobId });
  // Tasks in input order: each is evaluated after the tasks it takes as input.
  for (const task of spec.tasks) {
    const row = await tx.task.findUniqueOrThrow({ where: { id: ids.get(task.name)! } });
    const file = staged.get(task.name);
    if (file) {
      await tx.task.update({ where: { id: row.id }, data: { status: "processing", startedAt: new Date() } });
      await endTaskWithFiles(tx, row, [file], {}, settings);
    } else if (row.status === "created") {
      await evaluateTask(tx, row, settings);
    }
  }
  await refreshJobStatus(tx, jobId);
}

/** The task's secret payload values sealed for storage (AES-256-GCM), or SQL NULL when it has none. */
function sealedSecretsOf(secret: string, operation: string, payload: Record<string, unknown>): Prisma.InputJsonValue | typeof Prisma.DbNull {
  const values = extractSecrets(operation, payload);
  return values ? (sealSecrets(secret, values) as unknown as Prisma.InputJsonValue) : Prisma.DbNull;
}
