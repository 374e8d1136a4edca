/**
 * The upload form of import/upload. The slot id in the URL is the credential; the row holds
 * the expiry and limits. A slot takes `maxFileCount` files; the task completes when the upload ends.
 */
import { AppError, signaturesMatch } from "@transmute/core";
import type { Prisma } from "@transmute/db";
import { engineTransaction, lockJob } from "./tx.js";
import { endTaskWithFailure, endTaskWithFiles } from "./transitions.js";
import { signUploadSlot } from "./create-job.js";
import type { EngineDeps, NewFile } from "./types.js";

/** An open upload slot, ready to take a file. */
export type OpenSlot = Prisma.UploadSlotGetPayload<{ include: { task: true } }>;

/** Finds a slot that can take a file, or throws the documented error (404, 409, 400). */
export async function openUploadSlot(deps: EngineDeps, slotId: string): Promise<OpenSlot> {
  const slot = await deps.prisma.uploadSlot.findUnique({ where: { id: slotId }, include: { task: true } });
  if (!slot) throw new AppError("not_found", "No upload form at this address.");
  // Expiry first: a form that took no file reads as expired whether or not the reconciler has
  // already failed its task, so a late client gets one answer, not one that depends on timing.
  if (slot.expiresAt.getTime() <= Date.now() && slot.filesCount === 0) {
    throw new AppError("upload_expired", "This upload form has expired; create a new import/upload task.");
  }
  if (slot.status !== "open" || slot.task.status !== "processing") {
    throw new AppError("upload_finished", "This upload form has already received its file or its task ended.");
  }
  if (slot.expiresAt.getTime() <= Date.now()) throw new AppError("upload_expired", "This upload form has expired; create a new import/upload task.");
  return slot;
}

/** Checks a signature sent with the form (absent is allowed: the slot id is the credential). */
export function checkUploadSignature(deps: EngineDeps, slot: OpenSlot, given: string | undefined): void {
  if (given === undefined || given === "") return;
  const expected = signUploadSlot(deps.settings.secret, slot.id, slot.expiresAt.getTime());
  if (!signaturesMatch(expected, given)) throw new AppError("invalid_signature", "The upload signature does not match this form.");
}

/** Records the received file and completes the upload task; throws 409 if the slot closed meanwhile. */
export async function finishUpload(deps: EngineDeps, slotId: string, file: NewFile): Promise<string> {
  return engineTransaction(deps, async (tx) => {
    const slot = await tx.uploadSlot.findUnique({ where: { id: slotId }, include: { task: true } });
    if (!slot) throw new AppError("not_found", "No upload form at this address.");
    await lockJob(tx, slot.task.jobId);
    const fresh = await tx.uploadSlot.findUniqueOrThrow({ where: { id: slotId }, include: { task: true } });
    if (fresh.status !== "open" || fresh.task.status !== "processing") {
      throw new AppError("upload_finished", "This upload form has already received its file or its task ended.");
    }
    const count = fresh.filesCount + 1;
    await tx.uploadSlot.update({ where: { id: slotId }, data: { filesCount: count, status: count >= fresh.maxFileCount ? "done" : "open" } });
    await endTaskWithFiles(tx, fresh.task, [file], {}, deps.settings);
    return fresh.task.id;
  });
}

/** Fails upload tasks whose form expired unused; returns how many. */
export async function expireUploads(deps: EngineDeps): Promise<number> {
  const expired = await deps.prisma.uploadSlot.findMany({
    where: { status: "open", expiresAt: { lte: new Date() }, task: { status: "processing" } },
    select: { id: true, task: { select: { id: true, jobId: true } } },
    take: 200,
  });
  for (const slot of expired) {
    await engineTransaction(deps, async (tx) => {
      await lockJob(tx, slot.task.jobId);
      const task = await tx.task.findUnique({ where: { id: slot.task.id } });
      if (!task || task.status !== "processing") return;
      await tx.uploadSlot.update({ where: { id: slot.id }, data: { status: "done" } });
      await endTaskWithFailure(tx, task, "failed", "upload_timeout", "No file was uploaded before the upload form expired.", deps.settings);
    });
  }
  return expired.length;
}
