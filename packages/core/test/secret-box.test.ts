import { describe, expect, it } from "vitest";
import { isAppError } from "../src/errors.js";
import { isSealedSecrets, openSecrets, sealSecrets } from "../src/secret-box.js";

const SECRET = "s".repeat(32);

describe("sealed secrets", () => {
  it("seals so that no value shows, and opens to the same object", () => {
    const values = { "options.password": "open-sesame", secret_access_key: "AKIA/very+secret" };
    const sealed = sealSecrets(SECRET, values);
    expect(isSealedSecrets(sealed)).toBe(true);
    const text = JSON.stringify(sealed);
    expect(text).not.toContain("open-sesame");
    expect(text).not.toContain("very+secret");
    expect(openSecrets(SECRET, sealed)).toEqual(values);
  });

  it("uses a fresh nonce each time", () => {
    const a = sealSecrets(SECRET, { a: 1 });
    const b = sealSecrets(SECRET, { a: 1 });
    expect(a.iv).not.toBe(b.iv);
    expect(a.data).not.toBe(b.data);
  });

  it("refuses another secret and a tampered seal with internal_error, naming nothing", () => {
    const sealed = sealSecrets(SECRET, { password: "x" });
    for (const [secret, value] of [
      ["t".repeat(32), sealed],
      [SECRET, { ...sealed, data: Buffer.from("tampered").toString("base64url") }],
      [SECRET, { ...sealed, tag: Buffer.alloc(16).toString("base64url") }],
    ] as const) {
      try {
        openSecrets(secret, value);
        expect.unreachable("opened");
      } catch (err) {
        expect(isAppError(err) && err.code).toBe("internal_error");
        expect((err as Error).message).not.toContain("x");
      }
    }
  });

  it("takes rows written before sealing (plain objects) and nothing as they are", () => {
    expect(openSecrets(SECRET, { "options.password": "p" })).toEqual({ "options.password": "p" });
    expect(openSecrets(SECRET, null)).toBeNull();
    expect(openSecrets(SECRET, undefined)).toBeNull();
  });
});
