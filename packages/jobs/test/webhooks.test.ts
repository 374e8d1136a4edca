/** Webhook event names: validation of a subscription and the name each engine event is sent under. */
import { describe, expect, it } from "vitest";
import { parseWebhookEvents, pickSubscribedName, WEBHOOK_EVENTS } from "../src/webhooks.js";

describe("parseWebhookEvents", () => {
  it.each<[unknown, string[]]>([
    [["job.created"], ["job.created"]],
    [["job.finished", "job.success", "job.finished"], ["job.finished", "job.success"]],
    [[...WEBHOOK_EVENTS], [...WEBHOOK_EVENTS]],
  ])("accepts %j", (input, expected) => {
    expect(parseWebhookEvents(input)).toEqual(expected);
  });

  it.each<[unknown, string]>([
    [undefined, "non-empty array"],
    [[], "non-empty array"],
    ["job.created", "non-empty array"],
    [[1], "non-empty array"],
    [["job.done", "job.created"], "unknown event names: job.done; valid: job.created, job.success, job.finished, job.failed, task.completed, task.failed"],
  ])("refuses %j", (input, message) => {
    expect(() => parseWebhookEvents(input)).toThrow(message);
  });
});

describe("pickSubscribedName", () => {
  it.each<[string, string[], string | null]>([
    ["job.created", ["job.created"], "job.created"],
    ["job.completed", ["job.finished"], "job.finished"],
    ["job.completed", ["job.success"], "job.success"],
    // Both names: one delivery, under the first the subscriber listed.
    ["job.completed", ["job.finished", "job.success"], "job.finished"],
    ["job.failed", ["job.success", "job.failed"], "job.failed"],
    ["task.completed", ["task.completed"], "task.completed"],
    ["task.failed", ["job.failed"], null],
    ["job.started", ["job.created", "job.success"], null],
    ["task.canceled", ["task.failed"], null],
  ])("%s for %j -> %s", (type, events, expected) => {
    expect(pickSubscribedName(type, events)).toBe(expected);
  });
});
