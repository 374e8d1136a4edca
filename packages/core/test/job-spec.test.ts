import { describe, expect, it } from "vitest";
import { isAppError } from "../src/errors.js";
import { parseJobSpec } from "../src/job-spec.js";

const known = (name: string) => ["import/upload", "import/url", "convert", "export/url", "merge"].includes(name);
const ID = "0b9a2f6e-7d1c-4c55-9a3e-1f2d3c4b5a69";

function errorOf(body: unknown) {
  try {
    parseJobSpec(body, known);
  } catch (err) {
    if (isAppError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a rejection");
}

describe("parseJobSpec", () => {
  it("orders tasks so inputs come first and separates payload from inputs", () => {
    const spec = parseJobSpec(
      {
        tag: "t",
        tasks: {
          export: { operation: "export/url", input: ["a", "b"], filename: "x.zip" },
          b: { operation: "convert", input: "a", output_format: "png", ignore_error: true },
          a: { operation: "import/upload" },
        },
      },
      known,
    );
    expect(spec.tag).toBe("t");
    expect(spec.tasks.map((t) => t.name)).toEqual(["a", "b", "export"]);
    const b = spec.tasks[1]!;
    expect(b.ignoreError).toBe(true);
    expect(b.inputs).toEqual([{ kind: "name", name: "a" }]);
    expect(b.payload).toEqual({ output_format: "png" });
    expect(spec.tasks[2]!.inputs).toEqual([
      { kind: "name", name: "a" },
      { kind: "name", name: "b" },
    ]);
  });

  it("keeps an input that is an existing task id as an id reference", () => {
    const spec = parseJobSpec({ tasks: { c: { operation: "convert", input: ID.toUpperCase(), output_format: "png" } } }, known);
    expect(spec.tasks[0]!.inputs).toEqual([{ kind: "id", id: ID }]);
  });

  it("prefers a task name over an id of the same text", () => {
    const spec = parseJobSpec({ tasks: { [ID]: { operation: "import/upload" }, c: { operation: "convert", input: ID, output_format: "png" } } }, known);
    expect(spec.tasks.find((t) => t.name === "c")!.inputs).toEqual([{ kind: "name", name: ID }]);
  });

  const bad: Array<[string, unknown, string, string]> = [
    ["not an object", [], "invalid_request", "JSON object"],
    ["no tasks", {}, "invalid_request", "tasks"],
    ["empty task map", { tasks: {} }, "invalid_request", "at least one task"],
    ["bad task name", { tasks: { "bad name!": { operation: "import/upload" } } }, "invalid_task_name", "bad name!"],
    ["task not an object", { tasks: { a: "x" } }, "invalid_payload", '"a"'],
    ["missing operation", { tasks: { a: {} } }, "invalid_payload", '"a"'],
    ["unknown operation", { tasks: { a: { operation: "teleport" } } }, "unknown_operation", "teleport"],
    ["input naming no task", { tasks: { a: { operation: "convert", input: "nope", output_format: "png" } } }, "unknown_task", '"nope"'],
    ["input of a wrong type", { tasks: { a: { operation: "convert", input: 3, output_format: "png" } } }, "invalid_payload", '"a"'],
    ["input listed twice", { tasks: { u: { operation: "import/upload" }, a: { operation: "export/url", input: ["u", "u"] } } }, "invalid_payload", '"u"'],
    ["self input", { tasks: { a: { operation: "convert", input: "a", output_format: "png" } } }, "dependency_cycle", '"a"'],
    [
      "a cycle",
      { tasks: { a: { operation: "convert", input: "c", output_format: "png" }, b: { operation: "convert", input: "a", output_format: "png" }, c: { operation: "convert", input: "b", output_format: "png" } } },
      "dependency_cycle",
      "->",
    ],
    ["ignore_error not boolean", { tasks: { a: { operation: "import/upload", ignore_error: "yes" } } }, "invalid_payload", "ignore_error"],
    ["tag not a string", { tag: 5, tasks: { a: { operation: "import/upload" } } }, "invalid_payload", "tag"],
  ];
  it.each(bad)("rejects %s", (_label, body, code, fragment) => {
    const err = errorOf(body);
    expect(err.code).toBe(code);
    expect(err.message).toContain(fragment);
  });
});
