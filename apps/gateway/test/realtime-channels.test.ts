import { describe, expect, it } from "vitest";
import { finalEventOf, isFinalEvent, parseChannel, toSocketRelay, type Channel } from "../src/realtime-channels.js";

const ID = "0a1b2c3d-0000-4000-8000-000000000001";

describe("realtime channel names", () => {
  const cases: Array<[unknown, Channel | null]> = [
    [`job.${ID}`, { kind: "job", id: ID }],
    [`task.${ID}`, { kind: "task", id: ID }],
    [`user.${ID}.jobs`, { kind: "user-jobs", id: ID }],
    [`user.${ID}.tasks`, { kind: "user-tasks", id: ID }],
    // Any id shape parses: a wrong one is refused later exactly as an unknown id.
    ["job.5ff3e22059136b0023324b1f", { kind: "job", id: "5ff3e22059136b0023324b1f" }],
    ["job.", null],
    ["job", null],
    [`jobs.${ID}`, null],
    [`user.${ID}`, null],
    [`user.${ID}.files`, null],
    [`job.${ID}.extra`, null],
    [42, null],
    [undefined, null],
    [{ channel: `job.${ID}` }, null],
    [`job.${"x".repeat(300)}`, null],
  ];
  it.each(cases)("%j parses as %j", (name, expected) => {
    expect(parseChannel(name)).toEqual(expected);
  });
});

describe("bus events to socket events", () => {
  const ids = { accountId: "acc", jobId: "job1", taskId: "task1" };
  const cases: Array<[string, string | null, string[]]> = [
    ["job.created", null, []],
    ["job.started", "job_started", ["job.job1", "user.acc.jobs"]],
    ["job.completed", "job_completed", ["job.job1", "user.acc.jobs"]],
    ["job.failed", "job_failed", ["job.job1", "user.acc.jobs"]],
    ["job.deleted", null, []],
    ["task.started", "task_started", ["task.task1", "user.acc.tasks"]],
    ["task.completed", "task_completed", ["task.task1", "user.acc.tasks"]],
    ["task.failed", "task_failed", ["task.task1", "user.acc.tasks"]],
    ["task.canceled", "task_failed", ["task.task1", "user.acc.tasks"]],
    ["task.progress", "task_min_update", ["task.task1", "user.acc.tasks"]],
    ["task.deleted", null, []],
  ];
  it.each(cases)("%s becomes %s", (type, event, rooms) => {
    const relay = toSocketRelay({ type, ...ids });
    if (event === null) expect(relay).toBeNull();
    else expect(relay).toMatchObject({ event, rooms });
  });

  it("a task event without a task id is not relayed", () => {
    expect(toSocketRelay({ type: "task.completed", accountId: "acc", jobId: "job1" })).toBeNull();
  });
});

describe("final events", () => {
  const cases: Array<["job" | "task", string, string | null]> = [
    ["job", "created", null],
    ["job", "processing", null],
    ["job", "completed", "job_completed"],
    ["job", "failed", "job_failed"],
    ["task", "created", null],
    ["task", "processing", null],
    ["task", "completed", "task_completed"],
    ["task", "failed", "task_failed"],
    ["task", "canceled", "task_failed"],
  ];
  it.each(cases)("a %s in %s ends with %s", (object, status, event) => {
    expect(finalEventOf(object, status)).toBe(event);
  });
  it.each([
    ["job_completed", true],
    ["task_failed", true],
    ["task_started", false],
    ["task_min_update", false],
  ] as const)("%s is final: %s", (event, final) => {
    expect(isFinalEvent(event)).toBe(final);
  });
});
