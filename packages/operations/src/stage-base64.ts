/**
 * import/base64 at the gateway: the `file` field is decoded into storage and dropped from the
 * payload, so it never reaches the database, logs or events. The task completes at creation.
 */
import { Readable } from "node:stream";
import { AppError, sanitizeFilename } from "@transmute/core";
import { buildKey, type BlobStore } from "@transmute/storage";
import { contentTypeOf } from "@transmute/core";
import { identifyStored } from "./output-sink.js";

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Decodes and stores a base64 file for `taskId`; returns the file to record. */
export async function stageBase64File(storage: BlobStore, taskId: string, value: unknown, filename: unknown) {
  if (typeof value !== "string") throw new AppError("invalid_payload", `"file" must be a base64 string.`);
  // Data URLs are accepted: clients often send what a browser's FileReader gives them.
  const body = value.replace(/^data:[^;,]*;base64,/, "").replace(/\s+/g, "");
  if (body.length === 0) throw new AppError("invalid_payload", `"file" is empty.`);
  if (!BASE64.test(body)) throw new AppError("invalid_payload", `"file" is not valid base64.`);
  const bytes = Buffer.from(body, body.includes("-") || body.includes("_") ? "base64url" : "base64");
  const key = buildKey("tasks", taskId, "0", "0");
  const put = await storage.put(key, Readable.from([bytes]));
  const name = sanitizeFilename(typeof filename === "string" ? filename : "file");
  const format = await identifyStored(storage, key, put.size);
  return { ordinal: 0, name, size: put.size, contentType: contentTypeOf(format, name), format, sha256: put.sha256, md5: put.md5, storageKey: key };
}
