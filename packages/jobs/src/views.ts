/**
 * Jobs and tasks as the FreeConvert API shows them. Links are signed when read: a download
 * link is valid until its file expires, an upload form carries its signature parameters.
 */
import { AppError, isTaskEnded, signParts, toWireTaskStatus, type FileResult } from "@transmute/core";
import type { Prisma, PrismaClient } from "@transmute/db";
import type { EngineSettings } from "./types.js";

type TaskRow = Prisma.TaskGetPayload<{ include: { files: true; uploadSlots: true; dependsOn: { select: { dependsOnId: true; ordinal: true } } } }>;
/** A task row with what its view needs (read with `taskInclude`). */
export type TaskViewRow = TaskRow;

/** The relations `toTaskView` reads. */
export const taskInclude = {
  files: { orderBy: { ordinal: "asc" } },
  uploadSlots: true,
  dependsOn: { select: { dependsOnId: true, ordinal: true }, orderBy: { ordinal: "asc" } },
} as const satisfies Prisma.TaskInclude;

/** A task on the wire. */
export type TaskView = Record<string, unknown>;
/** A job on the wire. */
export type JobView = Record<string, unknown>;

/** Signs the download link of a file. */
export function signDownload(settings: Pick<EngineSettings, "secret">, fileId: string, expires: number): string {
  return signParts(settings.secret, ["download", fileId, String(expires)]);
}

/** The download link of a file, valid until `expiresAt`. */
export function downloadUrl(settings: Pick<EngineSettings, "secret" | "publicUrl">, file: { id: string; name: string; expiresAt: Date }): string {
  const expires = file.expiresAt.getTime();
  const sig = signDownload(settings, file.id, expires);
  return `${settings.publicUrl}/v1/files/${file.id}/${encodeURIComponent(file.name)}?expires=${expires}&signature=${sig}`;
}

/** Serialises a task row. */
export function toTaskView(settings: EngineSettings, task: TaskRow): TaskView {
  const publishes = task.operation === "export/url";
  let result: Record<string, unknown> = (task.result as Record<string, unknown> | null) ?? {};
  if (task.status === "completed") {
    const files: FileResult[] = task.files.map((f) => {
      const entry: FileResult = { filename: f.name, size: Number(f.size), content_type: f.contentType };
      if (publishes) {
        entry.url = downloadUrl(settings, f);
        entry.status = f.status;
        entry.checksum = f.md5;
        entry.downloads_counter = f.downloads;
      } else if (f.status !== "enabled") {
        // The bytes are gone (expired by retention): say so, as a published file does.
        entry.status = f.status;
      }
      return entry;
    });
    result = { ...result, files };
    if (publishes && files[0]?.url) result.url = files[0].url;
  } else if (task.operation === "import/upload" && !isTaskEnded(task.status)) {
    const slot = task.uploadSlots.find((s) => s.status === "open");
    if (slot) {
      result = {
        form: {
          url: `${settings.publicUrl}/v1/upload/${slot.id}`,
          parameters: {
            expires: slot.expiresAt.getTime(),
            size_limit: Number(slot.sizeLimit),
            max_file_count: slot.maxFileCount,
            signature: slot.signature,
          },
        },
      };
    }
  }
  return {
    id: task.id,
    name: task.name,
    operation: task.operation,
    status: toWireTaskStatus(task.status),
    payload: task.payload,
    ignoreError: task.ignoreError,
    job: task.jobId,
    dependsOn: task.dependsOn.map((d) => d.dependsOnId),
    result,
    code: task.code,
    message: task.message,
    percent: task.percent,
    server: task.server,
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    startedAt: task.startedAt?.toISOString() ?? null,
    endedAt: task.endedAt?.toISOString() ?? null,
    links: { self: `${settings.publicUrl}/v1/process/tasks/${task.id}` },
  };
}

/** Reads a task of an account; another account's task answers 404 exactly as an unknown one. */
export async function getTaskView(prisma: PrismaClient, settings: EngineSettings, accountId: string, taskId: string): Promise<TaskView> {
  const task = await prisma.task.findFirst({ where: { id: taskId, accountId }, include: taskInclude });
  if (!task) throw new AppError("not_found", `No task with id "${taskId}".`);
  return toTaskView(settings, task);
}

/** Reads a job of an account with its tasks. */
export async function getJobView(prisma: PrismaClient, settings: EngineSettings, accountId: string, jobId: string): Promise<JobView> {
  const job = await prisma.job.findFirst({
    where: { id: jobId, accountId },
    include: { tasks: { include: taskInclude, orderBy: [{ createdAt: "asc" }] } },
  });
  if (!job) throw new AppError("not_found", `No job with id "${jobId}".`);
  return toJobView(settings, job, job.tasks.map((t) => toTaskView(settings, t)));
}

/** Serialises a job row; `tasks` as given (views, or ids), left out when undefined. */
export function toJobView(settings: EngineSettings, job: Prisma.JobGetPayload<object>, tasks?: unknown[]): JobView {
  return {
    id: job.id,
    tag: job.tag,
    status: job.status,
    interface: "api",
    isRemoved: false,
    result: job.result ?? undefined,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    endedAt: job.endedAt?.toISOString() ?? null,
    tasks,
    links: { self: `${settings.publicUrl}/v1/process/jobs/${job.id}` },
  };
}
