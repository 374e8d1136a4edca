/** import/url: downloads a file under the outbound policy, with a byte cap and a time limit. */
import { AppError } from "@transmute/core";
import { safeFetch } from "@transmute/outbound";
import type { OperationHandler } from "../context.js";
import { nameFromContentDisposition, nameFromUrl } from "../names.js";

export const importUrl: OperationHandler = {
  name: "import/url",
  async run(ctx) {
    const url = String(ctx.task.payload.url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AppError("invalid_payload", `"url" is not a valid URL.`);
    }
    const timeoutMs = Math.min(ctx.limits.importUrlTimeoutMs, ctx.limits.timeoutMs);
    const res = await safeFetch(parsed, {
      policy: ctx.outbound,
      maxBytes: ctx.limits.importUrlMaxBytes,
      timeoutMs,
      signal: ctx.signal,
      headers: { "user-agent": "Transmute/0.1 (+import/url)", accept: "*/*" },
    });
    if (res.status < 200 || res.status >= 300) {
      res.body.destroy();
      throw new AppError("download_failed", `Downloading the file failed: the server answered HTTP ${res.status}.`);
    }
    const header = res.headers["content-disposition"];
    const given = typeof ctx.task.payload.filename === "string" ? ctx.task.payload.filename : null;
    const name = given ?? nameFromContentDisposition(Array.isArray(header) ? header[0] : header) ?? nameFromUrl(new URL(res.finalUrl)) ?? "file";
    await ctx.output.addStream(res.body, name, { maxBytes: ctx.limits.importUrlMaxBytes, signal: ctx.signal });
    return {};
  },
};
