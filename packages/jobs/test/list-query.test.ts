import { describe, expect, it } from "vitest";
import { isAppError } from "@transmute/core";
import {
  JOB_INCLUDES,
  TASK_INCLUDES,
  parseInclude,
  parseJobListFilters,
  parsePaging,
  parseTaskListFilters,
  storedTaskStatuses,
  type ListQuery,
  type Paging,
} from "../src/list-query.js";

/** Runs `fn` and returns the AppError it threw (code and message). */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isAppError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected an error");
}

describe("parsePaging", () => {
  const cases: Array<[string, ListQuery, Paging]> = [
    ["nothing: page 1 of 50", {}, { mode: "page", page: 1, perPage: 50 }],
    ["page and per_page", { page: "3", per_page: "20" }, { mode: "page", page: 3, perPage: 20 }],
    ["per_page above 200 is lowered to 200", { per_page: "201" }, { mode: "page", page: 1, perPage: 200 }],
    ["per_page exactly 200", { per_page: "200" }, { mode: "page", page: 1, perPage: 200 }],
    ["leading zeros and spaces", { page: " 007 " }, { mode: "page", page: 7, perPage: 50 }],
    ["cursor walk from the start", { maxRetrieve: "10" }, { mode: "cursor", cursor: null, limit: 10 }],
    ["cursor with the default size", { cursorId: "abc.def" }, { mode: "cursor", cursor: "abc.def", limit: 50 }],
    ["empty cursorId starts over", { cursorId: "", maxRetrieve: "5" }, { mode: "cursor", cursor: null, limit: 5 }],
    ["maxRetrieve above 200 is lowered", { maxRetrieve: "5000" }, { mode: "cursor", cursor: null, limit: 200 }],
  ];
  it.each(cases)("%s", (_name, query, expected) => {
    expect(parsePaging(query)).toEqual(expected);
  });

  const bad: Array<[string, ListQuery, string]> = [
    ["page 0", { page: "0" }, '"page"'],
    ["negative page", { page: "-1" }, '"page"'],
    ["fractional per_page", { per_page: "2.5" }, '"per_page"'],
    ["per_page 0", { per_page: "0" }, '"per_page"'],
    ["words", { per_page: "ten" }, '"per_page"'],
    ["empty page", { page: "" }, '"page"'],
    ["exponent", { page: "1e3" }, '"page"'],
    ["too many digits", { page: "9999999999999999" }, '"page"'],
    ["maxRetrieve 0", { maxRetrieve: "0" }, '"maxRetrieve"'],
    ["repeated page", { page: ["1", "2"] }, "given once"],
  ];
  it.each(bad)("refuses %s naming the parameter", (_name, query, part) => {
    const err = thrown(() => parsePaging(query));
    expect(err.code).toBe("invalid_request");
    expect(err.message).toContain(part);
  });

  it("refuses page and cursor parameters together, naming them", () => {
    const err = thrown(() => parsePaging({ page: "2", cursorId: "x" }));
    expect(err.code).toBe("invalid_request");
    expect(err.message).toContain("page, cursorId");
    expect(thrown(() => parsePaging({ per_page: "2", maxRetrieve: "3" })).message).toContain("per_page, maxRetrieve");
  });
});

describe("filters and include", () => {
  const operations = ["import/upload", "convert", "export/url"];

  it("reads the task filters; an empty job is no filter", () => {
    expect(parseTaskListFilters({ status: "completed", operation: "convert", job: "ABC" }, operations)).toEqual({ status: "completed", operation: "convert", job: "abc" });
    expect(parseTaskListFilters({ job: "" }, operations)).toEqual({});
  });

  it("an unknown status lists the valid ones; an unknown operation is unknown_operation listing the known ones", () => {
    const status = thrown(() => parseTaskListFilters({ status: "done" }, operations));
    expect(status.code).toBe("invalid_request");
    expect(status.message).toContain("created, processing, completed, canceled, failed, deleted, insufficiant_minute");
    const op = thrown(() => parseTaskListFilters({ operation: "import/s3" }, operations));
    expect(op.code).toBe("unknown_operation");
    expect(op.message).toContain('"operation"');
    expect(op.message).toContain("import/upload, convert, export/url");
    expect(thrown(() => parseJobListFilters({ status: "canceled" })).message).toContain("created, processing, completed, failed");
  });

  it("reads the job filters", () => {
    expect(parseJobListFilters({ status: "failed", tag: "nightly" })).toEqual({ status: "failed", tag: "nightly" });
    expect(parseJobListFilters({ tag: "" })).toEqual({});
  });

  const includes: Array<[string, string | undefined, string[]]> = [
    ["absent", undefined, []],
    ["one", "job", ["job"]],
    ["several, spaced, any case", " dependson , JOB,payload ", ["dependsOn", "job", "payload"]],
    ["empty parts skipped", ",,job,", ["job"]],
  ];
  it.each(includes)("include %s", (_name, raw, expected) => {
    const query: ListQuery = raw === undefined ? {} : { include: raw };
    expect([...parseInclude(query, TASK_INCLUDES)].sort()).toEqual(expected.sort());
  });

  it("an unknown include value lists the valid ones", () => {
    const err = thrown(() => parseInclude({ include: "tasks" }, TASK_INCLUDES));
    expect(err.code).toBe("invalid_request");
    expect(err.message).toContain("payload, dependsOn, job");
    expect([...parseInclude({ include: "tasks" }, JOB_INCLUDES)]).toEqual(["tasks"]);
  });

  const statuses: Array<[string, string[]]> = [
    ["created", ["created", "queued"]],
    ["processing", ["processing"]],
    ["canceled", ["canceled"]],
    ["deleted", []],
    ["insufficiant_minute", []],
  ];
  it.each(statuses)("status %s selects the stored statuses %j", (wire, stored) => {
    expect(storedTaskStatuses(wire)).toEqual(stored);
  });
});
