/**
 * The lists (page and cursor paging, filters, include) of an embedded server, through real HTTP.
 * The scenarios are shared with the scaled-out suite (lists-and-lifecycle-scenarios.ts).
 */
import { createAccount } from "@transmute/jobs";
import { createLocalDiskStore } from "@transmute/storage";
import { afterAll, beforeAll, describe, it } from "vitest";
import { apiClient, type TestServer } from "../support/harness.js";
import { startServer } from "./helpers.js";
import {
  checkBadInput,
  checkConcurrentWalk,
  checkCursorBasics,
  checkFilters,
  checkInclude,
  checkJobList,
  checkPaging,
  seedLists,
  type ListSeed,
  type Target,
} from "./lists-and-lifecycle-scenarios.js";

let server: TestServer;
let target: Target;
let seed: ListSeed;

beforeAll(async () => {
  server = await startServer();
  const prisma = server.app.engine.prisma;
  const other = await createAccount(prisma, `lists-${crypto.randomUUID()}@example.com`, "other");
  target = {
    api: server.api,
    other: apiClient(server.url, other.key),
    otherAccountId: other.accountId,
    sql: (text, params = []) => prisma.$queryRawUnsafe(text, ...params),
    store: createLocalDiskStore({ root: server.app.config.storageDir }),
    scratchDir: server.app.config.scratchDir,
    workerPid: process.pid,
  };
  seed = await seedLists(target);
});

afterAll(async () => {
  await server?.close();
});

describe("lists, embedded", () => {
  it("pages 120 tasks: totals, page boundaries, the default size, per_page clamped at 200", () => checkPaging(target, seed));
  it("filters tasks by status, operation and job", () => checkFilters(target, seed));
  it("include expands dependsOn and job on show and list; payload is always there", () => checkInclude(target, seed));
  it("lists jobs by status and tag, with include=tasks", () => checkJobList(target, seed));
  it("refuses bad paging, filter and include values naming the parameter", () => checkBadInput(target));
  it("walks a list with cursors: headers, broken cursors restart, cursors bound to their filters and account", () => checkCursorBasics(target, seed));
  it("a cursor walk while tasks are created concurrently neither skips nor repeats one", () => checkConcurrentWalk(target, { initial: 40, added: 60, creators: 3 }));
});
