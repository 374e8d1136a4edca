/**
 * Signed download links: `GET /v1/files/<file>/<name>?expires=&signature=[&encoding=base64]`. The
 * signature is checked first, then the file row: a link outlives nothing (an expired file is 410
 * `file_expired`, one downloaded the allowed number of times 410 `overuse`, a deleted one 410
 * `gone`). A GET counts as a download once its bytes are about to be sent; a HEAD never counts.
 */
import { pipeline, Readable } from "node:stream";
import { AppError, buildContentDisposition, isAppError, signaturesMatch } from "@transmute/core";
import { signDownload } from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import { base64Length, createBase64Encoder } from "../base64-stream.js";
import { errorResponses } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

/** Encodings `?encoding=` accepts (api2convert's; only base64 exists there too). */
const ENCODINGS = ["base64"];

interface FileRow {
  id: string;
  status: string;
  expiresAt: Date;
  downloads: number;
}

/** Why a file cannot be downloaded (now or any more), or null when it can. */
function refusal(file: FileRow, maxDownloads: number): AppError | null {
  if (file.status === "expired" || file.expiresAt.getTime() <= Date.now()) return new AppError("file_expired", "This file has expired and was deleted.");
  if (file.status === "overuse" || (maxDownloads > 0 && file.downloads >= maxDownloads)) {
    return new AppError("overuse", `This file was downloaded ${maxDownloads > 0 ? maxDownloads : file.downloads} times, the most allowed; it can no longer be downloaded.`);
  }
  if (file.status !== "enabled") return new AppError("gone", "This file was deleted.");
  return null;
}

/**
 * Counts one download, or refuses it: conditional on the file being downloadable and under the
 * maximum, so concurrent downloads never exceed it. The download that reaches the maximum turns
 * the file `overuse`.
 */
async function countDownload(prisma: GatewayDeps["engine"]["prisma"], fileId: string, maxDownloads: number): Promise<AppError | null> {
  const guard = maxDownloads > 0 ? { downloads: { lt: maxDownloads } } : {};
  const { count } = await prisma.file.updateMany({
    where: { id: fileId, status: "enabled", expiresAt: { gt: new Date() }, ...guard },
    data: { downloads: { increment: 1 } },
  });
  if (count === 1) {
    if (maxDownloads > 0) await prisma.file.updateMany({ where: { id: fileId, status: "enabled", downloads: { gte: maxDownloads } }, data: { status: "overuse" } });
    return null;
  }
  const now = await prisma.file.findUnique({ where: { id: fileId } });
  return now ? (refusal(now, maxDownloads) ?? new AppError("gone", "This file was deleted.")) : new AppError("gone", "This file was deleted.");
}

/** Registers the download route (GET and HEAD). */
export function downloadRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine, storage } = deps;
  const maxDownloads = deps.settings.maxDownloads;

  const schema = {
    summary: "Download a file",
    description:
      "A signed link from an export/url task's result (`expires` and `signature` in the query), valid until the file expires; `encoding=base64` sends the bytes base64-encoded. HEAD answers the headers only and is not counted as a download.",
    security: [],
    response: {
      200: {
        description: "The file, with its own Content-Type and `Content-Disposition: attachment`.",
        content: { "*/*": { schema: { type: "string", format: "binary" } } },
      },
      ...errorResponses(400, 403, 410, 500),
    },
  } as const;

  app.get("/v1/files/:fileId/:name", { schema, config: { swagger: { exposeHeadRoute: true } } }, async (request, reply) => {
    const { fileId } = request.params as { fileId: string; name: string };
    const query = request.query as { expires?: string; signature?: string; encoding?: string };
    const expires = Number(query.expires);
    if (!query.signature || !Number.isSafeInteger(expires) || !signaturesMatch(signDownload(engine.settings, fileId, expires), query.signature)) {
      throw new AppError("forbidden", "This download link is not valid.");
    }
    const encoding = query.encoding?.toLowerCase();
    if (encoding !== undefined && !ENCODINGS.includes(encoding)) {
      throw new AppError("invalid_request", `encoding "${query.encoding}" is not supported; valid values: ${ENCODINGS.join(", ")}.`);
    }
    if (expires <= Date.now()) throw new AppError("file_expired", "This download link has expired.");
    const file = await engine.prisma.file.findUnique({ where: { id: fileId } });
    if (!file) throw new AppError("gone", "This file was deleted.");
    const refused = refusal(file, maxDownloads);
    if (refused) throw refused;

    const head = request.method === "HEAD";
    let body: Readable | null = null;
    if (!head) {
      body = await storage.get(file.storageKey).catch((err: unknown) => {
        // The object went away under a live row (a sweep racing this request): the file is gone.
        throw isAppError(err) && err.code === "not_found" ? new AppError("gone", "This file was deleted.", { detail: `no object at ${file.storageKey}` }) : err;
      });
      const notCounted = await countDownload(engine.prisma, fileId, maxDownloads).catch((err: unknown) => {
        body!.destroy();
        throw err;
      });
      if (notCounted) {
        body.destroy();
        throw notCounted;
      }
    }
    const size = Number(file.size);
    const base64 = encoding === "base64";
    reply
      .header("content-type", base64 ? "text/plain; charset=us-ascii" : file.contentType)
      .header("content-length", String(base64 ? base64Length(size) : size))
      .header("content-disposition", buildContentDisposition(base64 ? `${file.name}.b64` : file.name))
      .header("cache-control", "private, no-store")
      .header("x-content-type-options", "nosniff");
    // HEAD gets an empty stream, not nothing: Fastify's HEAD handling sets Content-Length: 0
    // for an undefined payload, but keeps the header we set when the payload is a stream.
    if (!body) return reply.send(Readable.from([]));
    if (!base64) return reply.send(body);
    // pipeline, not pipe: a read error destroys the encoder too, so the response is cut, not hung.
    return reply.send(pipeline(body, createBase64Encoder(), () => undefined));
  });
}
