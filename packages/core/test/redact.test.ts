import { describe, expect, it } from "vitest";
import { AppError, redactAppError, redactSecrets } from "../src/index.js";

describe("redactSecrets", () => {
  it("replaces every occurrence of each secret, skips missing and too-short values", () => {
    expect(redactSecrets("key AKIA1234 and s3cr3t, again AKIA1234; id 42", ["AKIA1234", "s3cr3t", undefined, "42"])).toBe("key ***** and *****, again *****; id 42");
    expect(redactSecrets("nothing here", [])).toBe("nothing here");
  });
});

describe("redactAppError", () => {
  it("redacts message and detail, keeps code and retryable", () => {
    const err = redactAppError(new AppError("download_failed", "refused token-9999", { detail: "sent token-9999", retryable: true }), (t) => redactSecrets(t, ["token-9999"]));
    expect(err).toMatchObject({ code: "download_failed", message: "refused *****", detail: "sent *****", retryable: true });
    expect(redactAppError(new AppError("canceled", "stopped"), (t) => t).detail).toBeUndefined();
  });
});
