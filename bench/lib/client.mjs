/**
 * One FreeConvert job end to end, as a client does it: create the job (import/upload ->
 * convert -> export/url), post the file to the upload form, /wait for the job, download the
 * export's link and check its bytes. Times each step on the client, and reads the server's own
 * task timestamps from the /wait answer to see where a job's time went.
 */
import { MAGIC } from "./images.mjs";

/** The job body of one conversion. */
export function jobBody(outputFormat) {
  return {
    tag: "bench",
    tasks: {
      upload: { operation: "import/upload" },
      convert: { operation: "convert", input: "upload", output_format: outputFormat },
      export: { operation: "export/url", input: "convert" },
    },
  };
}

async function call(method, url, key, body) {
  const init = { method, headers: { authorization: `Bearer ${key}` } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${new URL(url).pathname} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const ms = (a, b) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);

/**
 * Runs one job against `base` (http://host:port) with `key`; `input` is { bytes, name }.
 * Returns client-side phase times (ms) and server-side task times (ms) read from the job view.
 */
export async function runJob(base, key, input, outputFormat) {
  const t0 = performance.now();
  const job = await call("POST", `${base}/v1/process/jobs`, key, jobBody(outputFormat));
  const t1 = performance.now();

  const upload = job.tasks.find((t) => t.name === "upload");
  const form = upload?.result?.form;
  if (!form?.url) throw new Error(`the job has no upload form: ${JSON.stringify(upload?.result)}`);
  const data = new FormData();
  for (const [name, value] of Object.entries(form.parameters ?? {})) data.append(name, String(value));
  data.append("file", new Blob([input.bytes]), input.name);
  const up = await fetch(form.url, { method: "POST", body: data });
  const upText = await up.text();
  if (!up.ok) throw new Error(`upload answered ${up.status}: ${upText.slice(0, 300)}`);
  const t2 = performance.now();

  const done = await call("GET", `${base}/v1/process/jobs/${job.id}/wait`, key);
  const t3 = performance.now();
  if (done.status !== "completed") {
    const failed = done.tasks.filter((t) => t.status !== "completed").map((t) => `${t.name}: ${t.status} ${t.code ?? ""} ${t.message ?? ""}`);
    throw new Error(`job ${job.id} ended ${done.status}: ${failed.join("; ")}`);
  }
  const exp = done.tasks.find((t) => t.name === "export");
  const url = exp?.result?.url;
  if (!url) throw new Error(`the export task has no url: ${JSON.stringify(exp?.result)}`);
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  const t4 = performance.now();
  if (!res.ok) throw new Error(`download answered ${res.status}`);
  if (bytes.length === 0) throw new Error("the download is empty");
  if (!MAGIC[outputFormat](bytes)) throw new Error(`the download does not start with the ${outputFormat} magic: ${bytes.subarray(0, 12).toString("hex")}`);

  const conv = done.tasks.find((t) => t.name === "convert");
  const upl = done.tasks.find((t) => t.name === "upload");
  return {
    total: t4 - t0,
    create: t1 - t0,
    upload: t2 - t1,
    wait: t3 - t2,
    download: t4 - t3,
    outputBytes: bytes.length,
    server: {
      // Upload finished -> convert claimed by a worker: routing, outbox relay, queue, claim.
      convertQueued: ms(upl?.endedAt, conv?.startedAt),
      // Convert claimed -> completed: materialize, pool child, sharp, store the output.
      convertRun: ms(conv?.startedAt, conv?.endedAt),
      // Convert completed -> export claimed.
      exportQueued: ms(conv?.endedAt, exp?.startedAt),
      exportRun: ms(exp?.startedAt, exp?.endedAt),
      // Export completed -> job ended as the server records it.
      jobEnd: ms(exp?.endedAt, done.endedAt),
    },
  };
}
