/**
 * The scenarios of cancel and delete, run in both modes (see lists-and-lifecycle-scenarios.ts):
 * a conversion stopped at once, dependents in other jobs, stored objects shared by exports.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { expect } from "vitest";
import { descendantsOf, storedKeys } from "../support/cluster.js";
import { download } from "../support/harness.js";
import { eventually, expectError, expectTaskFailed, makePng, postForm, taskOf, uploadLikeCurl, waitJob, waitTask } from "./helpers.js";
import { ok, type Target } from "./lists-and-lifecycle-scenarios.js";

/** Cancel of waiting and upload tasks: dependents follow ignore_error, the form closes, ended tasks are 409. */
export async function checkCancelWaiting(t: Target): Promise<void> {
  const png = await makePng(10, 10, [200, 30, 30]);
  const created = ok(
    await t.api.post("/v1/process/jobs", {
      tasks: {
        up: { operation: "import/upload" },
        src: { operation: "import/base64", file: png.toString("base64"), filename: "red.png" },
        wait: { operation: "convert", input: "up", output_format: "jpg" },
        strict: { operation: "convert", input: "wait", output_format: "png" },
        lenient: { operation: "export/url", input: ["wait", "src"], ignore_error: true },
      },
    }),
    201,
  );
  const up = taskOf(created, "up");
  const wait = taskOf(created, "wait");
  expect(wait.status).toBe("created");

  // A created task (waiting for its input): canceled at once.
  const canceled = ok(await t.api.post(`/v1/process/tasks/${wait.id}/cancel`));
  expect(canceled).toMatchObject({ id: wait.id, status: "canceled", code: "canceled", result: { errorCode: "canceled" } });
  expect(canceled.endedAt).not.toBeNull();
  await waitTask(t.api, taskOf(created, "lenient").id);
  const job = ok(await t.api.get(`/v1/process/jobs/${created.id}`));
  expectTaskFailed(taskOf(job, "strict"), "upstream_failed");
  expect(taskOf(job, "strict").message).toContain("was canceled");
  // ignore_error and an export: it runs on the input that remains.
  expect(taskOf(job, "lenient")).toMatchObject({ status: "completed", result: { files: [{ filename: "red.png" }] } });
  // The upload is still open: cancel it, and its form closes.
  expect(taskOf(job, "up").status).toBe("processing");
  expect(job.status).toBe("processing");
  const upCanceled = ok(await t.api.post(`/v1/process/tasks/${up.id}/cancel`, {}));
  expect(upCanceled.status).toBe("canceled");
  expect(upCanceled.result).toEqual({ errorCode: "canceled", msg: expect.any(String) });
  const upload = await uploadLikeCurl(up.result.form, png, "late.png");
  expectError(upload, 409, "upload_finished");
  const ended = await waitJob(t.api, created.id);
  expect(ended.status).toBe("failed");
  expect(ended.result.errorCode).toBe("canceled");

  // Ended tasks cannot be canceled; unknown, malformed and other accounts' ids are 404.
  for (const id of [wait.id, up.id, taskOf(created, "src").id]) expectError(await t.api.post(`/v1/process/tasks/${id}/cancel`), 409, "task_ended", id);
  expectError(await t.api.post(`/v1/process/tasks/${crypto.randomUUID()}/cancel`), 404, "not_found");
  expectError(await t.api.post("/v1/process/tasks/12345/cancel"), 404, "not_found");
  const mine = ok(await t.api.post("/v1/process/import/upload", {}), 201);
  expectError(await t.other.post(`/v1/process/tasks/${mine.id}/cancel`), 404, "not_found");
  expect(ok(await t.api.get(`/v1/process/tasks/${mine.id}`)).status).toBe("processing");
}

/** A noisy JPEG (`side` x `side`) that takes the AVIF encoder seconds. */
export async function makeNoisyJpeg(side: number): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 40 } } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** CPU ticks a process used so far (utime + stime), or null when it is gone. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return null;
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** The worker's pool child that is burning CPU now (the running conversion). */
async function busyPoolChild(t: Target): Promise<number> {
  let found: number | undefined;
  await eventually(async () => {
    const pids = (await descendantsOf(t.workerPid)).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("pool-child");
      } catch {
        return false;
      }
    });
    const before = new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    found = pids.find((pid) => (cpuTicks(pid) ?? 0) - (before.get(pid) ?? 0) > 5);
    return found !== undefined;
  }, 15_000, "a busy pool child");
  return found!;
}

/** Creates a job converting `bytes` to avif and returns its ids. */
async function startAvif(t: Target, bytes: Buffer, tag: string): Promise<{ jobId: string; srcId: string; convertId: string }> {
  const job = ok(
    await t.api.post("/v1/process/jobs", {
      tag,
      tasks: {
        src: { operation: "import/base64", file: bytes.toString("base64"), filename: "noise.jpg" },
        convert: { operation: "convert", input: "src", output_format: "avif" },
      },
    }),
    201,
  );
  return { jobId: job.id, srcId: taskOf(job, "src").id, convertId: taskOf(job, "convert").id };
}

/**
 * Cancel during a long conversion, with one conversion at a time: the canceled conversion stops
 * at once, the next queued one starts before the canceled one would have ended, its pool child
 * was killed and its scratch directory removed. Returns the measured times (ms).
 */
export async function checkCancelRunning(t: Target, noisy: Buffer): Promise<{ uncanceledMs: number; canceledAfterMs: number; nextStartedAfterCancelMs: number }> {
  const at = (iso: string) => new Date(iso).getTime();
  // How long the conversion takes when nobody cancels it.
  const baseline = await startAvif(t, noisy, "baseline");
  const full = await waitTask(t.api, baseline.convertId);
  expect(full.status, JSON.stringify(full)).toBe("completed");
  const uncanceledMs = at(full.endedAt) - at(full.startedAt);
  expect(uncanceledMs).toBeGreaterThan(1500);

  const long = await startAvif(t, noisy, "long");
  const small = await makePng(20, 20, [0, 0, 255]);
  const next = ok(
    await t.api.post("/v1/process/jobs", {
      tag: "next",
      tasks: {
        src: { operation: "import/base64", file: small.toString("base64"), filename: "blue.png" },
        convert: { operation: "convert", input: "src", output_format: "jpg" },
      },
    }),
    201,
  );
  const nextId = taskOf(next, "convert").id;
  await eventually(async () => ok(await t.api.get(`/v1/process/tasks/${long.convertId}`)).status === "processing", 15_000, "the long conversion to start");
  const child = await busyPoolChild(t);
  // The next conversion waits for the only slot.
  expect(ok(await t.api.get(`/v1/process/tasks/${nextId}`)).status).toBe("created");

  const canceled = ok(await t.api.post(`/v1/process/tasks/${long.convertId}/cancel`));
  expect(canceled.status).toBe("canceled");
  const following = await waitTask(t.api, nextId);
  expect(following.status, JSON.stringify(following)).toBe("completed");
  const longJob = await waitJob(t.api, long.jobId);
  expect(longJob.status).toBe("failed");
  const stopped = taskOf(longJob, "convert");
  expect(stopped).toMatchObject({ status: "canceled", code: "canceled" });

  // Order, not time: the next task started after the cancel, and before the canceled conversion
  // would have ended had it run on; by a wide margin (within the first half of what was left of
  // it), since two runs of one conversion do not take exactly as long.
  const wouldHaveEnded = at(stopped.startedAt) + uncanceledMs;
  expect(at(stopped.endedAt)).toBeLessThan(wouldHaveEnded);
  expect(at(following.startedAt)).toBeGreaterThanOrEqual(at(stopped.endedAt));
  expect(at(following.startedAt)).toBeLessThan(at(stopped.endedAt) + (wouldHaveEnded - at(stopped.endedAt)) / 2);
  // Its pool child was killed, not left converting, and its scratch directory is gone.
  await eventually(() => cpuTicks(child) === null, 5000, `pool child ${child} to be killed`);
  await eventually(() => !existsSync(t.scratchDir) || readdirSync(t.scratchDir).length === 0, 5000, "the scratch directory to be emptied");
  expect(await t.sql(`SELECT id FROM "File" WHERE "taskId" = $1`, [long.convertId])).toEqual([]);
  return {
    uncanceledMs,
    canceledAfterMs: at(stopped.endedAt) - at(stopped.startedAt),
    nextStartedAfterCancelMs: at(following.startedAt) - at(stopped.endedAt),
  };
}

/** Stored objects under a task's prefix. */
function storedUnder(t: Target, taskId: string): Promise<string[]> {
  return storedKeys(t.store, `tasks/${taskId}`);
}

/** Delete of a task: empty 200, 404 afterwards, its files gone, a dependent in another job fails with user_deleted_task. */
export async function checkDeleteTask(t: Target): Promise<void> {
  const png = await makePng(12, 12, [20, 20, 220]);
  const a = ok(
    await t.api.post("/v1/process/jobs", {
      tasks: {
        src: { operation: "import/base64", file: png.toString("base64"), filename: "blue.png" },
        conv: { operation: "convert", input: "src", output_format: "webp" },
        hold: { operation: "import/upload" },
      },
    }),
    201,
  );
  const doneA = await waitTask(t.api, taskOf(a, "conv").id);
  expect(doneA.status).toBe("completed");
  const hold = taskOf(a, "hold");
  // Another job waits on A's upload (strictly, and leniently beside a completed input).
  const b = ok(
    await t.api.post("/v1/process/jobs", {
      tasks: {
        strict: { operation: "convert", input: hold.id, output_format: "png" },
        lenient: { operation: "export/url", input: [hold.id, doneA.id], ignore_error: true },
        after: { operation: "export/url", input: "strict" },
      },
    }),
    201,
  );
  const waiter = t.api.get(`/v1/process/tasks/${hold.id}/wait`);

  const deleted = await t.api.request("DELETE", `/v1/process/tasks/${hold.id}`);
  expect(deleted.status).toBe(200);
  expect(deleted.body).toBe("");
  expect(deleted.headers.get("content-length") ?? "0").toBe("0");
  expectError(await t.api.get(`/v1/process/tasks/${hold.id}`), 404, "not_found");
  expectError(await waiter, 404, "not_found");
  expectError(await postForm(hold.result.form.url, [{ name: "file", filename: "x.png", data: png }]), 404, "not_found");

  const jobB = await waitJob(t.api, b.id);
  expectTaskFailed(taskOf(jobB, "strict"), "user_deleted_task");
  expect(taskOf(jobB, "strict").message).toContain(hold.id);
  expectTaskFailed(taskOf(jobB, "after"), "upstream_failed");
  expect(taskOf(jobB, "lenient")).toMatchObject({ status: "completed", dependsOn: [doneA.id] });
  expect(jobB.status).toBe("failed");
  // The rest of A is untouched, and still running its course.
  const jobA = ok(await t.api.get(`/v1/process/jobs/${a.id}`));
  expect(jobA.tasks.map((x: any) => x.name)).toEqual(["src", "conv"]);
  // Its last running task went: the job ends with what is left.
  expect(jobA.status).toBe("completed");

  // Deleting a task with files removes its stored objects...
  const src = taskOf(jobA, "src");
  expect(await storedUnder(t, src.id)).toHaveLength(1);
  expect((await t.api.request("DELETE", `/v1/process/tasks/${src.id}`)).status).toBe(200);
  expect(await storedUnder(t, src.id)).toEqual([]);
  expect(await t.sql(`SELECT id FROM "File" WHERE "taskId" = $1`, [src.id])).toEqual([]);
  // ...except an object another task still publishes: B's export of A's conversion.
  const conv = taskOf(jobA, "conv");
  expect((await t.api.request("DELETE", `/v1/process/tasks/${conv.id}`)).status).toBe(200);
  expect(await storedUnder(t, conv.id)).toHaveLength(1);
  const published = await download(taskOf(jobB, "lenient").result.url);
  expect([published.status, published.headers.get("content-type")]).toEqual([200, "image/webp"]);
  expect((await t.api.request("DELETE", `/v1/process/jobs/${b.id}`)).status).toBe(200);
  expect(await storedUnder(t, conv.id)).toEqual([]);
  // A's last task went: so did A.
  expectError(await t.api.get(`/v1/process/jobs/${a.id}`), 404, "not_found");

  // Unknown, malformed, already deleted and other accounts' ids are 404 and change nothing.
  const mine = ok(await t.api.post("/v1/process/import/upload", {}), 201);
  for (const [client, id] of [
    [t.api, crypto.randomUUID()],
    [t.api, "nope"],
    [t.api, hold.id],
    [t.other, mine.id],
  ] as const) {
    expectError(await client.request("DELETE", `/v1/process/tasks/${id}`), 404, "not_found");
  }
  expect(ok(await t.api.get(`/v1/process/tasks/${mine.id}`)).status).toBe("processing");
}

/**
 * Exports publish their input's stored object: deleting an export leaves the source's file (and
 * another export of it) downloadable, and deleting the source's job keeps the object while an
 * export in another job still publishes it; it goes with the last reference.
 */
export async function checkDeleteSharedFiles(t: Target): Promise<void> {
  const png = await makePng(9, 7, [240, 240, 0]);
  const a = ok(
    await t.api.post("/v1/process/jobs", {
      tasks: {
        src: { operation: "import/base64", file: png.toString("base64"), filename: "yellow.png" },
        exp1: { operation: "export/url", input: "src" },
        exp2: { operation: "export/url", input: "src" },
      },
    }),
    201,
  );
  const jobA = await waitJob(t.api, a.id);
  const src = taskOf(jobA, "src");
  const b = ok(await t.api.post("/v1/process/export/url", { input: src.id, filename: "shared.png" }), 201);
  const exp3 = await waitTask(t.api, b.id);
  const links = { exp1: taskOf(jobA, "exp1").result.url, exp2: taskOf(jobA, "exp2").result.url, exp3: exp3.result.url };
  for (const url of Object.values(links)) expect((await download(url)).bytes.equals(png)).toBe(true);
  const objects = await storedUnder(t, src.id);
  expect(objects).toHaveLength(1);

  expect((await t.api.request("DELETE", `/v1/process/tasks/${taskOf(jobA, "exp1").id}`)).status).toBe(200);
  expect((await download(links.exp1)).status).toBe(410);
  for (const url of [links.exp2, links.exp3]) expect((await download(url)).bytes.equals(png)).toBe(true);
  expect(await storedUnder(t, src.id)).toEqual(objects);

  // The source's whole job goes; the export of another job still publishes the object.
  const gone = await t.api.request("DELETE", `/v1/process/jobs/${a.id}`);
  expect([gone.status, gone.body]).toEqual([200, ""]);
  expectError(await t.api.get(`/v1/process/jobs/${a.id}`), 404, "not_found");
  for (const task of jobA.tasks) expectError(await t.api.get(`/v1/process/tasks/${task.id}`), 404, "not_found");
  expect((await download(links.exp2)).status).toBe(410);
  const still = await download(links.exp3);
  expect([still.status, still.bytes.equals(png)]).toEqual([200, true]);
  expect(await storedUnder(t, src.id)).toEqual(objects);

  // The last reference goes: so does the object.
  expect((await t.api.request("DELETE", `/v1/process/jobs/${exp3.job}`)).status).toBe(200);
  expect(await storedUnder(t, src.id)).toEqual([]);
  expect((await download(links.exp3)).status).toBe(410);
}

/** Delete of a job: its tasks and files go, a dependent in another job fails, a running conversion stops. */
export async function checkDeleteJob(t: Target, noisy: Buffer): Promise<void> {
  const running = await startAvif(t, noisy, "doomed");
  const dependent = ok(await t.api.post("/v1/process/export/url", { input: running.convertId }), 201);
  await eventually(async () => ok(await t.api.get(`/v1/process/tasks/${running.convertId}`)).status === "processing", 15_000, "the conversion to start");
  const child = await busyPoolChild(t);
  const waiter = t.api.get(`/v1/process/jobs/${running.jobId}/wait`);
  const res = await t.api.request("DELETE", `/v1/process/jobs/${running.jobId}`);
  expect([res.status, res.body]).toEqual([200, ""]);
  expectError(await waiter, 404, "not_found");
  expectError(await t.api.get(`/v1/process/jobs/${running.jobId}`), 404, "not_found");
  expectTaskFailed(await waitTask(t.api, dependent.id), "user_deleted_task");
  await eventually(() => cpuTicks(child) === null, 5000, `pool child ${child} to be killed`);
  await eventually(() => !existsSync(t.scratchDir) || readdirSync(t.scratchDir).length === 0, 5000, "the scratch directory to be emptied");
  expect(await t.sql(`SELECT id FROM "Task" WHERE "jobId" = $1`, [running.jobId])).toEqual([]);
  // Its source's object and anything the stopped attempt wrote are gone.
  for (const id of [running.srcId, running.convertId]) expect(await storedUnder(t, id)).toEqual([]);
  // Unknown and other accounts' jobs are 404.
  const mine = ok(await t.api.post("/v1/process/import/upload", {}), 201);
  expectError(await t.other.request("DELETE", `/v1/process/jobs/${mine.job}`), 404, "not_found");
  expectError(await t.api.request("DELETE", `/v1/process/jobs/${crypto.randomUUID()}`), 404, "not_found");
  expectError(await t.api.request("DELETE", `/v1/process/jobs/${running.jobId}`), 404, "not_found");
  expect(ok(await t.api.get(`/v1/process/jobs/${mine.job}`)).status).toBe("processing");
}
