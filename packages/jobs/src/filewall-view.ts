/**
 * A Filewall file as its status endpoint shows it, derived from the job behind it (or from the
 * tombstone once retention deleted that job). Statuses and failure codes are mapped here only.
 */
import type { Prisma } from "@transmute/db";
import type { EngineSettings } from "./types.js";
import { downloadUrl } from "./views.js";

/** Filewall's statuses. */
export type FilewallStatus = "new" | "waiting" | "processing" | "finished" | "failed" | "archived";

/** Filewall's failure codes (the `error` of a failed file). */
export type FilewallFailure = "processing_failed" | "timeout_new" | "timeout_waiting" | "timeout_processing";

/** The names of the job's tasks (the import, the disarm and the export). */
export const FILEWALL_TASKS = { upload: "upload", secure: "secure", export: "export" } as const;

/** The row of a Filewall file. */
export type FilewallRow = Prisma.FilewallFileGetPayload<object>;

/** The job behind a file, with what the view reads. */
export type FilewallJob = Prisma.JobGetPayload<{ include: { tasks: { include: { files: true; uploadSlots: true } } } }>;

/** A Filewall file on the wire; `error` only when failed; `name`, `type` and `links.download` only when finished. */
export interface FilewallView {
  uid: string;
  status: FilewallStatus;
  created: string;
  source_name: string;
  source_size: number;
  error?: FilewallFailure;
  name?: string;
  type?: string;
  links: { self: string; upload?: string; download?: string };
}

/**
 * Maps a task's failure code to Filewall's. An upload that never came is `timeout_new`, a
 * rebuild that ran out of time `timeout_processing`; Transmute puts no bound on the time a
 * task waits for a worker, so `timeout_waiting` is never produced today.
 */
export function toFilewallFailure(code: string | null): FilewallFailure {
  if (code === "upload_timeout") return "timeout_new";
  if (code === "engine_timeout") return "timeout_processing";
  return "processing_failed";
}

/** The link of a file's status. */
export function filewallSelfUrl(settings: Pick<EngineSettings, "publicUrl">, uid: string): string {
  return `${settings.publicUrl}/api/files/${uid}`;
}

/** The upload link of a file (the upload slot's id is its token). */
export function filewallUploadUrl(settings: Pick<EngineSettings, "publicUrl">, slotId: string): string {
  return `${settings.publicUrl}/api/upload/${slotId}`;
}

/** The view of a file: from its job when there is one, else the tombstone (`archived`). */
export function toFilewallView(settings: EngineSettings, row: FilewallRow, job: FilewallJob | null): FilewallView {
  const byName = new Map((job?.tasks ?? []).map((t) => [t.name, t]));
  const upload = byName.get(FILEWALL_TASKS.upload);
  const source = upload?.files[0];
  const view: FilewallView = {
    uid: row.uid,
    status: "archived",
    created: row.createdAt.toISOString(),
    // The row is written when the upload lands; the import's file covers the moment before.
    source_name: row.sourceName || source?.name || "",
    source_size: Number(row.sourceSize > 0n ? row.sourceSize : (source?.size ?? 0n)),
    links: { self: filewallSelfUrl(settings, row.uid) },
  };
  // No job yet (the authorization is being written) reads as new; no job any more, archived.
  if (!row.jobId) return { ...view, status: "new" };
  if (!job) return view;
  if (job.status === "failed") {
    // The first task that failed on its own account (its dependents fail as upstream_failed).
    const failed = job.tasks.filter((t) => t.status === "failed" || t.status === "canceled").sort((a, b) => (a.endedAt?.getTime() ?? 0) - (b.endedAt?.getTime() ?? 0));
    const cause = failed.find((t) => t.code !== "upstream_failed") ?? failed[0];
    return { ...view, status: "failed", error: toFilewallFailure(cause?.status === "canceled" ? "canceled" : (cause?.code ?? null)) };
  }
  if (job.status === "completed") {
    const published = byName.get(FILEWALL_TASKS.export)?.files[0];
    // Retention expired the secured file before it deleted the job: nothing left to download.
    if (!published || published.status !== "enabled" || published.expiresAt.getTime() <= Date.now()) return view;
    return { ...view, status: "finished", name: published.name, type: published.contentType, links: { ...view.links, download: downloadUrl(settings, published) } };
  }
  if (upload && upload.status === "processing") {
    // An expired link fails at once, as the reconciler will record it (upload_timeout) shortly.
    const slot = upload.uploadSlots.find((s) => s.id === row.slotId);
    if (slot && slot.filesCount === 0 && slot.expiresAt.getTime() <= Date.now()) return { ...view, status: "failed", error: toFilewallFailure("upload_timeout") };
    return row.slotId ? { ...view, status: "new", links: { ...view.links, upload: filewallUploadUrl(settings, row.slotId) } } : { ...view, status: "new" };
  }
  const secure = byName.get(FILEWALL_TASKS.secure);
  if (!secure || secure.status === "created" || secure.status === "queued") return { ...view, status: "waiting" };
  return { ...view, status: "processing" };
}
