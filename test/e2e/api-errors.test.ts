/**
 * The request side of the API: every bad input gets its documented status and a `{code,
 * message}` body whose message names what is wrong; API keys in every form real clients send
 * them; and one account never sees another's work (404 exactly as for an unknown id).
 */
import { createAccount } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type ApiClient, type TestServer } from "../support/harness.js";
import { expectError, makePng, runJob, startServer, taskOf } from "./helpers.js";

let server: TestServer;
let png: Buffer;

beforeAll(async () => {
  [server, png] = await Promise.all([startServer(), makePng(8, 8, [1, 2, 3])]);
});

afterAll(async () => {
  await server?.close();
});

const createJob = (tasks: unknown) => server.api.post("/v1/process/jobs", { tasks });

describe("bad requests", () => {
  it("malformed JSON is a 400 invalid_json; JSON that is not an object is a 400 invalid_request", async () => {
    const res = await server.api.request("POST", "/v1/process/jobs", '{"tasks": {', { "content-type": "application/json" });
    expectError(res, 400, "invalid_json");
    for (const body of ["[]", "null", '"tasks"']) {
      expectError(await server.api.request("POST", "/v1/process/jobs", body, { "content-type": "application/json" }), 400, "invalid_request");
      expectError(await server.api.request("POST", "/v1/process/import/upload", body, { "content-type": "application/json" }), 400, "invalid_request");
    }
  });

  it("Content-Type: application/json with an empty body counts as {} (the samples send that)", async () => {
    const res = await server.api.request("POST", "/v1/process/import/upload", "", { "content-type": "application/json" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ operation: "import/upload", status: "processing", result: { form: { url: expect.any(String) } } });
    // No body and no Content-Type at all, as curl -X POST sends it.
    const bare = await fetch(`${server.url}/v1/process/import/upload`, { method: "POST", headers: { authorization: `Bearer ${server.key}` } });
    expect(bare.status).toBe(201);
  });

  it("an empty task map, an unknown operation, a bad task name, an input naming no task and a cycle are 400s naming the task", async () => {
    expectError(await createJob({}), 400, "invalid_request");
    expectError(await server.api.post("/v1/process/jobs", {}), 400, "invalid_request", "tasks");
    expectError(await createJob({ "my-task": { operation: "import/nothing" } }), 400, "unknown_operation", '"my-task"', "import/nothing");
    expectError(await createJob({ "bad name!": { operation: "import/upload" } }), 400, "invalid_task_name", '"bad name!"');
    expectError(
      await createJob({ up: { operation: "import/upload" }, conv: { operation: "convert", input: "upp", output_format: "png" } }),
      400,
      "unknown_task",
      '"conv"',
      '"upp"',
    );
    expectError(
      await createJob({
        a: { operation: "convert", input: "c", output_format: "png" },
        b: { operation: "convert", input: "a", output_format: "png" },
        c: { operation: "convert", input: "b", output_format: "png" },
      }),
      400,
      "dependency_cycle",
      '"a"',
    );
    expectError(await createJob({ self: { operation: "convert", input: "self", output_format: "png" } }), 400, "dependency_cycle", '"self"');
    // A well-formed id of no task at all.
    expectError(await createJob({ conv: { operation: "convert", input: crypto.randomUUID(), output_format: "png" } }), 400, "unknown_task", '"conv"');
  });

  it("payload errors are 400s: an option of the wrong type, an output format nothing produces, a missing field", async () => {
    const up = { operation: "import/upload" };
    const bad = await createJob({ up, conv: { operation: "convert", input: "up", output_format: "png", options: { image_custom_width: "abc" } } });
    expectError(bad, 400, "invalid_option", "image_custom_width", '"conv"');
    const standalone = await server.api.post("/v1/process/convert", { input: crypto.randomUUID(), output_format: "png", options: { image_custom_width: "abc" } });
    expect(standalone.status).toBe(400);
    const nothing = await createJob({ up, conv: { operation: "convert", input: "up", output_format: "psd" } });
    expectError(nothing, 400, "invalid_payload", "psd", '"conv"');
    expectError(await createJob({ up, conv: { operation: "convert", input: "up" } }), 400, "invalid_payload", "output_format");
    expectError(await createJob({ get: { operation: "import/url" } }), 400, "invalid_payload", "url", '"get"');
    expectError(await createJob({ conv: { operation: "convert", output_format: "png" } }), 400, "invalid_payload", '"conv"', "input");
  });

  it("an unknown job or task id is a 404, whatever its shape", async () => {
    for (const id of [crypto.randomUUID(), "5ff3e22059136b0023324b20", "not-an-id"]) {
      expectError(await server.api.get(`/v1/process/jobs/${id}`), 404, "not_found", id);
      expectError(await server.api.get(`/v1/process/tasks/${id}`), 404, "not_found", id);
      expectError(await server.api.get(`/v1/process/jobs/${id}/wait`), 404, "not_found", id);
      expectError(await server.api.get(`/v1/process/tasks/${id}/wait`), 404, "not_found", id);
    }
    expectError(await server.api.get("/v1/no/such/route"), 404, "not_found");
  });

  it("a wrong method on a known path is a 405 with Allow", async () => {
    const jobs = await server.api.request("PUT", "/v1/process/jobs", {});
    expectError(jobs, 405, "method_not_allowed");
    expect(jobs.headers.get("allow")).toBe("POST, GET");
    const job = await server.api.request("PATCH", `/v1/process/jobs/${crypto.randomUUID()}`);
    expectError(job, 405, "method_not_allowed");
    expect(job.headers.get("allow")).toContain("GET");
    expect(job.headers.get("allow")).toContain("DELETE");
    const convert = await server.api.get("/v1/process/convert");
    expectError(convert, 405, "method_not_allowed");
    expect(convert.headers.get("allow")).toBe("POST");
  });

  it("Accept: text/html is a 406", async () => {
    const res = await server.api.request("GET", "/v1/account/me", undefined, { accept: "text/html" });
    expectError(res, 406, "not_acceptable");
    const browser = await server.api.request("GET", "/v1/account/me", undefined, { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" });
    expect(browser.status).toBe(200);
  });
});

describe("API keys", () => {
  it("no key and a bad key are 401", async () => {
    expectError(await apiClient(server.url, null).get("/v1/account/me"), 401, "unauthorized");
    expectError(await apiClient(server.url, "tm_not-a-key-of-anyone").get("/v1/account/me"), 401, "unauthorized");
    expectError(await apiClient(server.url, null).post("/v1/process/jobs", { tasks: { up: { operation: "import/upload" } } }), 401, "unauthorized");
    expectError(await apiClient(server.url, null).request("GET", "/v1/account/me", undefined, { authorization: "Bearer " }), 401, "unauthorized");
  });

  it("the key is accepted in every form clients send it: Bearer k, bearer k, Bearerk, and bare", async () => {
    for (const value of [`Bearer ${server.key}`, `bearer ${server.key}`, `Bearer${server.key}`, server.key, `BEARER  ${server.key}`]) {
      const res = await apiClient(server.url, null).request("GET", "/v1/account/me", undefined, { authorization: value });
      expect(res.status, value.replace(server.key, "<key>")).toBe(200);
      expect(res.body).toMatchObject({ id: expect.any(String), email: expect.any(String) });
    }
  });
});

describe("accounts are isolated", () => {
  let other: ApiClient;

  beforeAll(async () => {
    const made = await createAccount(server.app.engine.prisma, `other-${crypto.randomUUID()}@example.com`, "other");
    other = apiClient(server.url, made.key);
  });

  it("another account's job and task ids answer 404 exactly as unknown ids, and cannot be used as input", async () => {
    const { job } = await runJob(server.api, { up: { operation: "import/base64", file: png.toString("base64"), filename: "mine.png" } });
    expect(job.status).toBe("completed");
    const task = taskOf(job, "up");
    expect((await other.get("/v1/account/me")).status).toBe(200);

    for (const [path, id] of [
      [`/v1/process/jobs/${job.id}`, job.id],
      [`/v1/process/jobs/${job.id}/wait`, job.id],
      [`/v1/process/tasks/${task.id}`, task.id],
      [`/v1/process/tasks/${task.id}/wait`, task.id],
    ] as const) {
      const theirs = await other.get(path);
      const unknown = await other.get(path.replace(id, id.replace(/^.{8}/, "00000000")));
      expectError(theirs, 404, "not_found");
      expect(theirs.body).toEqual({ ...unknown.body, message: unknown.body.message.replace(id.replace(/^.{8}/, "00000000"), id) });
    }

    const reuse = await other.post("/v1/process/jobs", { tasks: { conv: { operation: "convert", input: task.id, output_format: "jpg" } } });
    expectError(reuse, 400, "unknown_task", '"conv"');
    const unknownReuse = await other.post("/v1/process/jobs", { tasks: { conv: { operation: "convert", input: task.id.replace(/^.{8}/, "00000000"), output_format: "jpg" } } });
    expect(reuse.body.message.replace(task.id, "<id>")).toBe(unknownReuse.body.message.replace(task.id.replace(/^.{8}/, "00000000"), "<id>"));
    const standalone = await other.post("/v1/process/export/url", { input: task.id });
    expectError(standalone, 400, "unknown_task");

    // The owner still sees it.
    expect((await server.api.get(`/v1/process/tasks/${task.id}`)).status).toBe(200);
  });
});
