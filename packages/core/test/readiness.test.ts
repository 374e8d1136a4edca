import { describe, expect, it } from "vitest";
import { decideReadiness, deriveJobStatus, type InputState } from "../src/readiness.js";

const input = (name: string, status: string): InputState => ({ id: `id-${name}`, name, status });
const single = { ignoreError: false, minInputs: 1, runsOnSurvivors: false };
const singleIgnoring = { ...single, ignoreError: true };
const multi = { ignoreError: false, minInputs: 1, runsOnSurvivors: true };
const multiIgnoring = { ...multi, ignoreError: true };
const mergeIgnoring = { ignoreError: true, minInputs: 2, runsOnSurvivors: true };

describe("decideReadiness: the ignore_error rule", () => {
  const table: Array<[string, Parameters<typeof decideReadiness>[0], InputState[], string, string[] | string | null]> = [
    ["no inputs: ready at once", single, [], "ready", []],
    ["input still running: wait", single, [input("a", "processing")], "wait", null],
    ["input queued: wait", single, [input("a", "queued")], "wait", null],
    ["input completed: ready on it", single, [input("a", "completed")], "ready", ["id-a"]],
    ["input failed: fail naming it", single, [input("a", "failed")], "fail", "a"],
    ["input canceled: fail naming it", single, [input("a", "canceled")], "fail", "a"],
    ["ignore_error, single input failed: nothing to run on, fail", singleIgnoring, [input("a", "failed")], "fail", "a"],
    ["one of two failed, other running, no ignore_error: fail at once", multi, [input("a", "failed"), input("b", "processing")], "fail", "a"],
    ["one of two failed, other running, ignore_error: wait for it", multiIgnoring, [input("a", "failed"), input("b", "processing")], "wait", null],
    ["one of two failed, ignore_error, multi-input op: run on the survivor", multiIgnoring, [input("a", "failed"), input("b", "completed")], "ready", ["id-b"]],
    ["all failed, ignore_error: fail naming the first", multiIgnoring, [input("a", "failed"), input("b", "canceled")], "fail", "a"],
    ["multi-input op without ignore_error, one failed: fail", multi, [input("a", "completed"), input("b", "failed")], "fail", "b"],
    ["merge with ignore_error keeps going while 2 survive", mergeIgnoring, [input("a", "completed"), input("b", "failed"), input("c", "completed")], "ready", ["id-a", "id-c"]],
    ["merge with ignore_error, one survivor is too few: fail", mergeIgnoring, [input("a", "completed"), input("b", "failed")], "fail", "b"],
    ["single-input op with ignore_error cannot run on survivors", singleIgnoring, [input("a", "failed"), input("b", "completed")], "fail", "a"],
    ["every input completed: ready in input order", multi, [input("b", "completed"), input("a", "completed")], "ready", ["id-b", "id-a"]],
  ];
  it.each(table)("%s", (_label, task, inputs, kind, detail) => {
    const decision = decideReadiness(task, inputs);
    expect(decision.kind).toBe(kind);
    if (decision.kind === "ready") expect(decision.inputIds).toEqual(detail);
    if (decision.kind === "fail") {
      expect(decision.failedInput.name).toBe(detail);
      expect(decision.message).toContain(`"${detail}"`);
    }
  });
});

describe("deriveJobStatus", () => {
  const t = (status: string, ignoreError = false) => ({ status, ignoreError });
  const table: Array<[string, Array<{ status: string; ignoreError: boolean }>, string]> = [
    ["nothing started", [t("created"), t("queued")], "created"],
    ["an upload waiting for its file", [t("processing"), t("created")], "processing"],
    ["one task done, one waiting", [t("completed"), t("created")], "processing"],
    ["all completed", [t("completed"), t("completed")], "completed"],
    ["a task failed while another runs: not ended yet", [t("failed"), t("processing")], "processing"],
    ["a task without ignore_error failed", [t("completed"), t("failed")], "failed"],
    ["a task without ignore_error canceled", [t("completed"), t("canceled")], "failed"],
    ["only ignore_error tasks failed", [t("completed"), t("failed", true), t("canceled", true)], "completed"],
    ["no tasks", [], "created"],
  ];
  it.each(table)("%s", (_label, tasks, expected) => {
    expect(deriveJobStatus(tasks)).toBe(expected);
  });
});
