/**
 * Signed download links: `GET /v1/files/<file>/<name>?expires=&signature=`. The signature is
 * checked first, then the file row (a link outlives nothing: an expired or deleted file is 410).
 */
import { Readable } from "node:stream";
import { AppError, buildContentDisposition, signaturesMatch } from "@transmute/core";
import { signDownload } from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";

/** Registers the download route (GET and HEAD). */
export function downloadRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine, storage } = deps;

  app.get("/v1/files/:fileId/:name", async (request, reply) => {
    const { fileId } = request.params as { fileId: string; name: string };
    const query = request.query as { expires?: string; signature?: string };
    const expires = Number(query.expires);
    if (!query.signature || !Number.isSafeInteger(expires) || !signaturesMatch(signDownload(engine.settings, fileId, expires), query.signature)) {
      throw new AppError("forbidden", "This download link is not valid.");
    }
    if (expires <= Date.now()) throw new AppError("file_expired", "This download link has expired.");
    const file = await engine.prisma.file.findUnique({ where: { id: fileId } });
    if (!file) throw new AppError("gone", "This file was deleted.");
    if (file.status !== "enabled" || file.expiresAt.getTime() <= Date.now()) {
      throw new AppError("file_expired", "This file has expired and was deleted.");
    }
    const head = request.method === "HEAD";
    const body = head ? null : await storage.get(file.storageKey);
    if (!head) await engine.prisma.file.update({ where: { id: fileId }, data: { downloads: { increment: 1 } } });
    reply
      .header("content-type", file.contentType)
      .header("content-length", String(file.size))
      .header("content-disposition", buildContentDisposition(file.name))
      .header("cache-control", "private, no-store")
      .header("x-content-type-options", "nosniff");
    // HEAD gets an empty stream, not nothing: Fastify's HEAD handling sets Content-Length: 0
    // for an undefined payload, but keeps the header we set when the payload is a stream.
    return reply.send(head ? Readable.from([]) : body);
  });
}
