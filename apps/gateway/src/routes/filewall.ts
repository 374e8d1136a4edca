/**
 * The Filewall API facade (docs/filewall.md): `POST|GET /api/authorize` makes a file to disarm
 * (a job import/upload -> secure -> export/url tagged `filewall`), `POST /api/upload/<token>`
 * takes the raw file, `GET /api/files/<uid>` tells its status and, once finished, its download
 * link (the ordinary signed export link). Answers and errors are Filewall's, not FreeConvert's.
 */
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { AppError, contentTypeOf } from "@transmute/core";
import { authorizeFilewallFile, finishFilewallUpload, FilewallError, getFilewallFile, openFilewallUpload } from "@transmute/jobs";
import { identifyStored } from "@transmute/operations";
import { buildKey } from "@transmute/storage";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { installFilewallErrors } from "../filewall-errors.js";
import { authenticateFilewall, filenameFromHeader, parseFilewallLimits } from "../filewall-request.js";
import { receiveRawUpload } from "../filewall-upload.js";
import type { GatewayDeps } from "../types.js";

// Left out of the OpenAPI document: it describes the FreeConvert surface and its error shape.
const hidden = { schema: { hide: true } } as const;

/** Registers the Filewall routes, each group in its own scope (body parsers differ). */
export async function filewallRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  const { engine, storage } = deps;
  const settings = deps.settings.filewall;

  await app.register(async (api) => {
    installFilewallErrors(api);
    // A body of any other type is read as JSON too: Filewall clients do not all label it.
    api.removeContentTypeParser("text/plain");
    api.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
      const text = String(body);
      if (text.trim() === "") return done(null, {});
      try {
        return done(null, JSON.parse(text));
      } catch {
        return done(new FilewallError("invalid_request", "the body is not JSON"), undefined);
      }
    });
    const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await authenticateFilewall(deps, request);
      const limits = parseFilewallLimits(request.body);
      return reply.code(202).send(await authorizeFilewallFile(engine, caller, limits, settings));
    };
    api.post("/api/authorize", hidden, authorize);
    api.get("/api/authorize", hidden, authorize);
    api.get("/api/files/:uid", hidden, async (request) => {
      const caller = await authenticateFilewall(deps, request);
      return getFilewallFile(engine, caller.accountId, (request.params as { uid: string }).uid);
    });
  });

  await app.register(async (upload) => {
    installFilewallErrors(upload);
    // The file is the raw body whatever its type says (none, octet-stream, form-urlencoded...):
    // handed over as the request stream, never buffered.
    upload.removeAllContentTypeParsers();
    upload.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    upload.post("/api/upload/:token", hidden, async (request, reply) => {
      const { token } = request.params as { token: string };
      const slot = await openFilewallUpload(engine, token);
      const limit = Number(slot.sizeLimit);
      const declared = Number(request.headers["content-length"]);
      if (Number.isFinite(declared) && declared > limit) throw new AppError("payload_too_large", `The file is larger than the limit of ${limit} bytes.`);
      // No body at all never reaches the parser: an empty upload.
      if (request.body === undefined || declared === 0) throw new FilewallError("invalid_request", "empty upload");
      // A key of this request's own: of two uploads racing on one link, the loser removes only its bytes.
      const key = buildKey("tasks", slot.taskId, "0", randomUUID());
      const put = await receiveRawUpload(storage, request.body as Readable, key, limit);
      try {
        if (put.size === 0) throw new FilewallError("invalid_request", "empty upload");
        const name = filenameFromHeader(request.headers.filename);
        const format = await identifyStored(storage, key, put.size);
        await finishFilewallUpload(engine, token, { ordinal: 0, name, size: put.size, contentType: contentTypeOf(format, name), format, sha256: put.sha256, md5: put.md5, storageKey: key });
      } catch (err) {
        await storage.delete(key).catch(() => undefined);
        throw err;
      }
      return reply.code(202).send({});
    });
  });
}
