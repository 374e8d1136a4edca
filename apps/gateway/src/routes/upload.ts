/**
 * The import/upload form: `POST /v1/upload/<slot>` (a trailing slash works too), multipart with
 * `file` and any subset of the form parameters in any order. The file streams to storage under
 * the slot's size limit; a wrong signature, a second file or an oversized file discards what was
 * staged. Success answers the task, or 303 to `redirect`. CORS is open: browsers post here.
 */
import type { Readable } from "node:stream";
import { AppError, sanitizeFilename, contentTypeOf } from "@transmute/core";
import { checkUploadSignature, finishUpload, getTaskView, openUploadSlot, type NewFile } from "@transmute/jobs";
import { identifyStored } from "@transmute/operations";
import { buildKey } from "@transmute/storage";
import type { FastifyInstance, FastifyReply } from "fastify";
import { errorResponses } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers": "*",
  "access-control-max-age": "86400",
};

function withCors(reply: FastifyReply): FastifyReply {
  return reply.headers(CORS);
}

/** Registers the upload form routes. */
export function uploadRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine, storage } = deps;

  // The CORS preflight is the browser's business: left out of the OpenAPI document.
  app.options("/v1/upload/:slot", { schema: { hide: true } }, async (_request, reply) => withCors(reply).code(204).send());

  const schema = {
    summary: "Upload a file to an upload form",
    description:
      "The form of an import/upload task (`result.form.url`): multipart/form-data with a `file` field and any of the form's parameters, in any order. Answers with the task, or 303 to the task's `redirect`. CORS is open: browsers post here.",
    security: [],
    response: {
      200: { $ref: "Task#" },
      303: { type: "null", description: "Uploaded; redirected to the task's `redirect` URL." },
      ...errorResponses(400, 403, 404, 409, 413, 415, 500),
    },
  } as const;

  app.post("/v1/upload/:slot", { schema }, async (request, reply) => {
    withCors(reply);
    const { slot: slotId } = request.params as { slot: string };
    const slot = await openUploadSlot(engine, slotId);
    if (!request.isMultipart()) {
      throw new AppError("unsupported_media_type", "Send the file as multipart/form-data with a \"file\" field.");
    }
    const sizeLimit = Number(slot.sizeLimit);
    const fields: Record<string, string> = {};
    const staged: NewFile[] = [];
    try {
      for await (const part of request.parts({ limits: { fileSize: sizeLimit, files: 20, fields: 50, fieldSize: 64 * 1024 } })) {
        if (part.type === "field") {
          fields[part.fieldname] = String(part.value);
          // A signature sent before the file is checked before a byte is stored.
          if (part.fieldname === "signature") checkUploadSignature(engine, slot, fields.signature);
          continue;
        }
        if (staged.length + slot.filesCount >= slot.maxFileCount) {
          part.file.resume();
          throw new AppError("too_many_files", `This upload form takes ${slot.maxFileCount} file(s).`);
        }
        const ordinal = slot.filesCount + staged.length;
        const key = buildKey("tasks", slot.taskId, "0", String(ordinal));
        const put = await storage.put(key, part.file as Readable, { maxBytes: sizeLimit });
        if (part.file.truncated) {
          await storage.delete(key);
          throw new AppError("payload_too_large", `The file is larger than this form's size limit of ${sizeLimit} bytes.`);
        }
        const name = sanitizeFilename(part.filename || "file");
        const format = await identifyStored(storage, key, put.size);
        staged.push({ ordinal, name, size: put.size, contentType: contentTypeOf(format, name), format, sha256: put.sha256, md5: put.md5, storageKey: key });
      }
      if (staged.length === 0) throw new AppError("invalid_request", "The form has no \"file\" field.");
      checkUploadSignature(engine, slot, fields.signature);
      let taskId = slot.taskId;
      for (const file of staged) taskId = await finishUpload(engine, slotId, file);
      if (slot.redirect) return reply.code(303).header("location", slot.redirect).send();
      return reply.code(200).send(await getTaskView(engine.prisma, engine.settings, slot.task.accountId, taskId));
    } catch (err) {
      await Promise.all(staged.map((f) => storage.delete(f.storageKey).catch(() => undefined)));
      throw err;
    }
  });
}
