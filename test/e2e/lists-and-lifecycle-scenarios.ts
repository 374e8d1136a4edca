/**
 * The scenarios of the lists, cursors and include, written once and run in both modes:
 * test/e2e/lists-and-lifecycle.test.ts on an embedded server, and
 * test/scaled/lists-and-lifecycle.test.ts on gateway and worker processes over Postgres and Redis
 * (cancel and delete: lists-and-lifecycle-cancel-delete-scenarios.ts). A scenario talks HTTP to
 * the API and checks the database and the disk it was given.
 */
import type { BlobStore } from "@transmute/storage";
import { expect } from "vitest";
import { freePort, type ApiAnswer, type ApiClient } from "../support/harness.js";
import { expectError, makePng, waitTask } from "./helpers.js";

/** What a scenario runs against. */
export interface Target {
  /** The first account's client. */
  api: ApiClient;
  /** A second account's client (isolation; the concurrent walk uses it alone). */
  other: ApiClient;
  otherAccountId: string;
  /** A query on the server's database. */
  sql<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  /** The server's file store (what its tasks stored). */
  store: BlobStore;
  /** The worker's scratch directory. */
  scratchDir: string;
  /** The process whose descendants are the worker's pool children. */
  workerPid: number;
}

/** Ids of the data the list scenarios read. */
export interface ListSeed {
  accountId: string;
  bulkJobId: string;
  mixedJobId: string;
  mixed: Record<string, string>;
  canceledTaskId: string;
}

const BULK = 120;

/** Asserts a 200 (or `status`) and returns the body. */
export function ok(res: ApiAnswer, status = 200): any {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res.body;
}

/** Ids of the account's tasks (or of `where`), in the list order, from the database. */
async function taskIdsInOrder(t: Target, where: string, params: unknown[]): Promise<string[]> {
  return (await t.sql<{ id: string }>(`SELECT id FROM "Task" WHERE ${where} ORDER BY "createdAt", id`, params)).map((r) => r.id);
}

/**
 * Seeds the first account: a job of 120 upload tasks, a job with a task of every status
 * (completed, failed, processing, created), and a canceled standalone upload.
 */
export async function seedLists(t: Target): Promise<ListSeed> {
  const me = ok(await t.api.get("/v1/account/me"));
  const bulkTasks: Record<string, unknown> = {};
  for (let i = 0; i < BULK; i++) bulkTasks[`u${String(i).padStart(3, "0")}`] = { operation: "import/upload" };
  const bulk = ok(await t.api.post("/v1/process/jobs", { tag: "bulk", tasks: bulkTasks }), 201);
  const png = await makePng(16, 12, [10, 200, 30]);
  const closedPort = await freePort();
  const mixedJob = ok(
    await t.api.post("/v1/process/jobs", {
      tag: "mixed",
      tasks: {
        src: { operation: "import/base64", file: png.toString("base64"), filename: "green.png" },
        conv: { operation: "convert", input: "src", output_format: "jpg" },
        exp: { operation: "export/url", input: "conv" },
        bad: { operation: "import/url", url: `http://127.0.0.1:${closedPort}/none.png`, ignore_error: true },
        hold: { operation: "import/upload" },
        after: { operation: "convert", input: "hold", output_format: "webp" },
      },
    }),
    201,
  );
  const mixed = Object.fromEntries((mixedJob.tasks as any[]).map((task) => [task.name, task.id as string]));
  for (const name of ["exp", "bad"]) await waitTask(t.api, mixed[name]!);
  const standalone = ok(await t.api.post("/v1/process/import/upload", {}), 201);
  ok(await t.api.post(`/v1/process/tasks/${standalone.id}/cancel`));
  return { accountId: me.id, bulkJobId: bulk.id, mixedJobId: mixedJob.id, mixed, canceledTaskId: standalone.id };
}

/** Page paging over the 120 tasks: totals, boundaries, the default size, clamping, pages past the end. */
export async function checkPaging(t: Target, seed: ListSeed): Promise<void> {
  const expected = await taskIdsInOrder(t, `"jobId" = $1`, [seed.bulkJobId]);
  expect(expected).toHaveLength(BULK);
  const first = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}`));
  expect({ ...first, docs: first.docs.length }).toEqual({
    docs: 50, totalDocs: BULK, limit: 50, totalPages: 3, page: 1, pagingCounter: 1, hasPrevPage: false, hasNextPage: true, prevPage: null, nextPage: 2,
  });
  const seen: string[] = first.docs.map((d: any) => d.id);
  for (const page of [2, 3]) {
    const body = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}&page=${page}&per_page=50`));
    expect(body).toMatchObject({ page, totalPages: 3, pagingCounter: (page - 1) * 50 + 1, hasPrevPage: true, prevPage: page - 1, hasNextPage: page < 3, nextPage: page < 3 ? page + 1 : null });
    expect(body.docs).toHaveLength(page === 3 ? 20 : 50);
    seen.push(...body.docs.map((d: any) => d.id));
  }
  // Page boundaries neither skip nor repeat: the pages are the database's order, cut in 50s.
  expect(seen).toEqual(expected);

  const past = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}&page=4`));
  expect(past).toMatchObject({ docs: [], totalDocs: BULK, page: 4, hasNextPage: false, nextPage: null, hasPrevPage: true, prevPage: 3 });
  const huge = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}&page=999999999999`));
  expect(huge.docs).toEqual([]);

  // "Limited at 200": a larger per_page is lowered, not refused.
  for (const perPage of [200, 201, 5000]) {
    const all = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}&per_page=${perPage}`));
    expect(all).toMatchObject({ limit: 200, totalPages: 1, totalDocs: BULK, hasNextPage: false });
    expect(all.docs.map((d: any) => d.id)).toEqual(expected);
  }
  const last = ok(await t.api.get(`/v1/process/tasks?job=${seed.bulkJobId}&per_page=7&page=18`));
  expect(last).toMatchObject({ totalPages: 18, pagingCounter: 120, hasNextPage: false, limit: 7 });
  expect(last.docs.map((d: any) => d.id)).toEqual([expected[119]]);

  // Without a filter: every task of the account, and nothing of another's.
  const everything = ok(await t.api.get("/v1/process/tasks?per_page=200"));
  const mine = await taskIdsInOrder(t, `"accountId" = $1`, [seed.accountId]);
  expect(everything.totalDocs).toBe(mine.length);
  expect(everything.docs.map((d: any) => d.id)).toEqual(mine.slice(0, 200));
  const theirs = ok(await t.other.get(`/v1/process/tasks?job=${seed.bulkJobId}`));
  expect(theirs).toMatchObject({ docs: [], totalDocs: 0, totalPages: 1 });
}

/** The status, operation and job filters, alone and together. */
export async function checkFilters(t: Target, seed: ListSeed): Promise<void> {
  const stored: Record<string, string[]> = { created: ["created", "queued"], processing: ["processing"], completed: ["completed"], failed: ["failed"], canceled: ["canceled"] };
  for (const [status, statuses] of Object.entries(stored)) {
    const body = ok(await t.api.get(`/v1/process/tasks?status=${status}&per_page=200`));
    const expected = await taskIdsInOrder(t, `"accountId" = $1 AND status = ANY($2)`, [seed.accountId, statuses]);
    expect(expected.length, `tasks ${status}`).toBeGreaterThan(0);
    expect(body.totalDocs).toBe(expected.length);
    expect(body.docs.map((d: any) => d.id)).toEqual(expected.slice(0, 200));
    for (const doc of body.docs) expect(doc.status).toBe(status);
  }
  for (const status of ["deleted", "insufficiant_minute"]) {
    expect(ok(await t.api.get(`/v1/process/tasks?status=${status}`))).toMatchObject({ docs: [], totalDocs: 0 });
  }
  const converts = ok(await t.api.get("/v1/process/tasks?operation=convert"));
  expect(converts.docs.map((d: any) => d.id).sort()).toEqual([seed.mixed.conv, seed.mixed.after].sort());
  const both = ok(await t.api.get(`/v1/process/tasks?operation=convert&status=completed&job=${seed.mixedJobId}`));
  expect(both.docs.map((d: any) => d.id)).toEqual([seed.mixed.conv]);
  const failed = ok(await t.api.get(`/v1/process/tasks?job=${seed.mixedJobId}&status=failed`));
  expect(failed.docs.map((d: any) => d.id)).toEqual([seed.mixed.bad]);
  expect(ok(await t.api.get("/v1/process/tasks?status=canceled")).docs.map((d: any) => d.id)).toEqual([seed.canceledTaskId]);
  // A job id of no job, or of another shape, matches nothing.
  expect(ok(await t.api.get(`/v1/process/tasks?job=${crypto.randomUUID()}`)).totalDocs).toBe(0);
  expect(ok(await t.api.get("/v1/process/tasks?job=not-a-job")).totalDocs).toBe(0);
}

/** include on show and list; without it, payload is shown and dependsOn and job are ids. */
export async function checkInclude(t: Target, seed: ListSeed): Promise<void> {
  const plain = ok(await t.api.get(`/v1/process/tasks/${seed.mixed.conv}`));
  expect(plain.payload).toEqual({ output_format: "jpg" });
  expect(plain.dependsOn).toEqual([seed.mixed.src]);
  expect(plain.job).toBe(seed.mixedJobId);
  expect(ok(await t.api.get(`/v1/process/tasks/${seed.mixed.conv}?include=payload`))).toEqual(plain);

  const full = ok(await t.api.get(`/v1/process/tasks/${seed.mixed.conv}?include=payload,dependsOn,job`));
  const source = ok(await t.api.get(`/v1/process/tasks/${seed.mixed.src}`));
  expect(full.dependsOn).toEqual([source]);
  const job = ok(await t.api.get(`/v1/process/jobs/${seed.mixedJobId}`));
  const { tasks: _tasks, ...jobAlone } = job;
  expect(full.job).toEqual(jobAlone);
  expect({ ...full, dependsOn: plain.dependsOn, job: plain.job }).toEqual(plain);

  const listed = ok(await t.api.get(`/v1/process/tasks?job=${seed.mixedJobId}&operation=export/url&include=dependsOn,job`));
  expect(listed.docs).toHaveLength(1);
  expect(listed.docs[0].dependsOn.map((d: any) => d.id)).toEqual([seed.mixed.conv]);
  expect(listed.docs[0].dependsOn[0].result.files[0].filename).toBe("green.jpg");
  expect(listed.docs[0].job.id).toBe(seed.mixedJobId);
  expect(listed.docs[0].result.url).toMatch(/^http/);

  expectError(await t.api.get(`/v1/process/tasks/${seed.mixed.conv}?include=tasks`), 400, "invalid_request", "include", "payload, dependsOn, job");
}

/** The job list: filters, include=tasks, paging. */
export async function checkJobList(t: Target, seed: ListSeed): Promise<void> {
  const all = ok(await t.api.get("/v1/process/jobs"));
  const expected = (await t.sql<{ id: string }>(`SELECT id FROM "Job" WHERE "accountId" = $1 ORDER BY "createdAt", id`, [seed.accountId])).map((r) => r.id);
  expect(all.totalDocs).toBe(expected.length);
  expect(all.docs.map((j: any) => j.id)).toEqual(expected);
  const mixed = all.docs.find((j: any) => j.id === seed.mixedJobId);
  expect(mixed.tasks).toEqual(Object.values(seed.mixed));
  expect(mixed).toMatchObject({ tag: "mixed", interface: "api", links: { self: expect.stringContaining(seed.mixedJobId) } });

  const tagged = ok(await t.api.get("/v1/process/jobs?tag=bulk&include=tasks"));
  expect(tagged.docs.map((j: any) => j.id)).toEqual([seed.bulkJobId]);
  expect(tagged.docs[0].tasks).toHaveLength(BULK);
  expect(tagged.docs[0].tasks[0]).toMatchObject({ name: "u000", operation: "import/upload", status: "processing", result: { form: { url: expect.any(String) } } });
  expect(ok(await t.api.get("/v1/process/jobs?tag=bul")).totalDocs).toBe(0);

  const shown = ok(await t.api.get(`/v1/process/jobs/${seed.mixedJobId}`));
  const listedFull = ok(await t.api.get("/v1/process/jobs?tag=mixed&include=tasks")).docs[0];
  expect(listedFull).toEqual(shown);

  const statuses = await t.sql<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM "Job" WHERE "accountId" = $1 GROUP BY status`, [seed.accountId]);
  for (const status of ["created", "processing", "completed", "failed"]) {
    const body = ok(await t.api.get(`/v1/process/jobs?status=${status}`));
    expect(body.totalDocs, status).toBe(statuses.find((s) => s.status === status)?.n ?? 0);
    for (const doc of body.docs) expect(doc.status).toBe(status);
  }
  const paged = ok(await t.api.get("/v1/process/jobs?per_page=1&page=2"));
  expect(paged).toMatchObject({ limit: 1, page: 2, totalDocs: expected.length, totalPages: expected.length, pagingCounter: 2 });
  expect(paged.docs.map((j: any) => j.id)).toEqual([expected[1]]);
  expect(ok(await t.other.get("/v1/process/jobs")).totalDocs).toBe(0);
}

/** Bad paging, filter and include values: 400 naming the parameter and the valid values. */
export async function checkBadInput(t: Target): Promise<void> {
  for (const list of ["tasks", "jobs"]) {
    for (const [query, part] of [
      ["per_page=0", "per_page"],
      ["per_page=-5", "per_page"],
      ["page=abc", "page"],
      ["page=1.5", "page"],
      ["page=", "page"],
      ["maxRetrieve=0", "maxRetrieve"],
      ["maxRetrieve=ten", "maxRetrieve"],
      ["page=1&page=2", "page"],
    ] as const) {
      expectError(await t.api.get(`/v1/process/${list}?${query}`), 400, "invalid_request", `"${part}"`);
    }
    expectError(await t.api.get(`/v1/process/${list}?page=2&cursorId=x`), 400, "invalid_request", "page", "cursorId");
    expectError(await t.api.get(`/v1/process/${list}?per_page=2&maxRetrieve=2`), 400, "invalid_request", "per_page", "maxRetrieve");
  }
  expectError(await t.api.get("/v1/process/tasks?status=done"), 400, "invalid_request", '"status"', "created, processing, completed, canceled, failed, deleted, insufficiant_minute");
  expectError(await t.api.get("/v1/process/jobs?status=canceled"), 400, "invalid_request", '"status"', "created, processing, completed, failed");
  expectError(await t.api.get("/v1/process/tasks?operation=import/ftp"), 400, "unknown_operation", '"operation"', "import/upload", "convert", "export/url");
  expectError(await t.api.get("/v1/process/tasks?include=tasks"), 400, "invalid_request", "payload, dependsOn, job");
  expectError(await t.api.get("/v1/process/jobs?include=payload"), 400, "invalid_request", "tasks");
}

/** One cursor page: the docs' ids and the three headers. */
async function cursorPage(api: ApiClient, query: string): Promise<{ ids: string[]; more: boolean; cursor: string; broken: boolean; body: any }> {
  const res = await api.get(`/v1/process/tasks?${query}`);
  const body = ok(res);
  const more = res.headers.get("x-more-results-available");
  const broken = res.headers.get("x-cursor-was-broken");
  const cursor = res.headers.get("x-cursor-id");
  expect([more, broken]).toEqual([expect.stringMatching(/^(true|false)$/), expect.stringMatching(/^(true|false)$/)]);
  expect(cursor).toMatch(/^[A-Za-z0-9_.-]+$/);
  expect(body.hasNextPage).toBe(more === "true");
  return { ids: body.docs.map((d: any) => d.id), more: more === "true", cursor: cursor!, broken: broken === "true", body };
}

/** Cursor paging: headers, page size, broken cursors restart, a cursor is bound to its filters and account. */
export async function checkCursorBasics(t: Target, seed: ListSeed): Promise<void> {
  const expected = await taskIdsInOrder(t, `"jobId" = $1`, [seed.bulkJobId]);
  const filter = `job=${seed.bulkJobId}`;
  const first = await cursorPage(t.api, `${filter}&maxRetrieve=50`);
  expect(first).toMatchObject({ more: true, broken: false });
  expect(first.body.limit).toBe(50);
  expect(first.body.totalDocs).toBeUndefined();
  const walked = [...first.ids];
  let cursor = first.cursor;
  for (;;) {
    const page = await cursorPage(t.api, `${filter}&maxRetrieve=50&cursorId=${encodeURIComponent(cursor)}`);
    expect(page.broken).toBe(false);
    walked.push(...page.ids);
    cursor = page.cursor;
    if (!page.more) break;
  }
  expect(walked).toEqual(expected);
  // At the end the cursor stays valid: a later request answers what came since (nothing here).
  const tail = await cursorPage(t.api, `${filter}&cursorId=${encodeURIComponent(cursor)}`);
  expect(tail).toMatchObject({ ids: [], more: false, broken: false, cursor });

  // maxRetrieve alone starts a walk; above 200 it is lowered; the default is 50.
  expect((await cursorPage(t.api, `${filter}&maxRetrieve=500`)).body.limit).toBe(200);
  expect((await cursorPage(t.api, `${filter}&cursorId=`)).ids).toEqual(expected.slice(0, 50));

  // Broken cursors restart from the beginning and say so.
  const tampered = first.cursor.replace(/^./, (c) => (c === "A" ? "B" : "A"));
  for (const bad of ["garbage", tampered, first.cursor.split(".")[0]!]) {
    const page = await cursorPage(t.api, `${filter}&maxRetrieve=3&cursorId=${encodeURIComponent(bad)}`);
    expect(page).toMatchObject({ broken: true, more: true, ids: expected.slice(0, 3) });
  }
  // A cursor is valid only with the filters and account it was made for.
  const otherFilter = await cursorPage(t.api, `status=processing&maxRetrieve=3&cursorId=${encodeURIComponent(first.cursor)}`);
  expect(otherFilter.broken).toBe(true);
  const otherAccount = await cursorPage(t.other, `${filter}&maxRetrieve=3&cursorId=${encodeURIComponent(first.cursor)}`);
  expect(otherAccount).toMatchObject({ broken: true, ids: [], more: false });

  // The job list walks the same way.
  const jobs = await t.api.get("/v1/process/jobs?maxRetrieve=1");
  expect(ok(jobs).docs).toHaveLength(1);
  expect(jobs.headers.get("x-more-results-available")).toBe("true");
  const next = await t.api.get(`/v1/process/jobs?maxRetrieve=1&cursorId=${encodeURIComponent(jobs.headers.get("x-cursor-id")!)}`);
  expect(ok(next).docs[0].id).not.toBe(jobs.body.docs[0].id);
}

/**
 * A cursor walk of the second account's tasks while other requests create more of them, several
 * at once: every task is handed out exactly once, in order, and the walk ends with all of them.
 */
export async function checkConcurrentWalk(
  t: Target,
  opts: { initial: number; added: number; creators: number; /** Clients of the second account the creators take turns on (other gateways). */ via?: ApiClient[] },
): Promise<{ pages: number; tasks: number }> {
  const clients = opts.via ?? [t.other];
  const create = async (n: number, api = t.other) => {
    const tasks: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) tasks[`w${i}`] = { operation: "import/upload" };
    ok(await api.post("/v1/process/jobs", { tag: "walk", tasks }), 201);
  };
  for (let made = 0; made < opts.initial; made += 20) await create(Math.min(20, opts.initial - made));
  let creating = true;
  const creators = Array.from({ length: opts.creators }, async (_, c) => {
    for (let made = c; made < opts.added; made += opts.creators) {
      const api = clients[made % clients.length]!;
      // Mixed sizes: a job of several tasks holds its transaction open longer.
      if (made % 5 === 0) await create(3, api);
      else ok(await api.post("/v1/process/import/upload", {}), 201);
    }
  });
  const done = Promise.all(creators).finally(() => {
    creating = false;
  });
  const seen: string[] = [];
  let cursor = "";
  let pages = 0;
  for (;;) {
    const page = await cursorPage(t.other, `maxRetrieve=7&cursorId=${encodeURIComponent(cursor)}`);
    pages++;
    expect(page.broken).toBe(false);
    seen.push(...page.ids);
    cursor = page.cursor;
    if (!page.more && !creating) break;
    if (!page.more) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await done;
  // Once nothing is created any more, one more page from the last cursor finds nothing new.
  const after = await cursorPage(t.other, `maxRetrieve=7&cursorId=${encodeURIComponent(cursor)}`);
  seen.push(...after.ids);
  const inDb = await taskIdsInOrder(t, `"accountId" = $1`, [t.otherAccountId]);
  expect(new Set(seen).size, "no task handed out twice").toBe(seen.length);
  expect(seen).toEqual(inDb);
  return { pages, tasks: inDb.length };
}
