import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeSettings, loadConfig, redactConfig } from "../src/index.js";

const README = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("describeSettings", () => {
  const settings = describeSettings();

  it("describes each setting once, with a default and a one-sentence doc", () => {
    expect(new Set(settings.map((s) => s.name)).size).toBe(settings.length);
    for (const s of settings) {
      expect(s.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(s.default).not.toBe("");
      expect(s.doc).toMatch(/^[A-Za-z].*\.$/);
    }
  });

  it("knows every TRANSMUTE_* variable loadConfig accepts", () => {
    const env = Object.fromEntries(settings.filter((s) => s.name.startsWith("TRANSMUTE_")).map((s) => [s.name, ""]));
    expect(() => loadConfig(env)).not.toThrow();
  });

  it.each(describeSettings().map((s) => [s.name]))("%s is documented in the README", (name) => {
    expect(README).toContain(`\`${name}\``);
  });
});

describe("redactConfig", () => {
  it("hides the key, the secret and service passwords, and keeps the rest", () => {
    const config = loadConfig({
      TRANSMUTE_API_KEY: "k".repeat(20),
      TRANSMUTE_SECRET: "s".repeat(40),
      DATABASE_URL: "postgres://app:hunter2@db:5432/transmute?sslpassword=abc&sslmode=require",
      REDIS_URL: "rediss://:r3dis@cache:6380",
    });
    const logged = JSON.stringify(redactConfig(config));
    for (const secret of ["k".repeat(20), "s".repeat(40), "hunter2", "abc", "r3dis"]) expect(logged).not.toContain(secret);
    expect(redactConfig(config)).toMatchObject({
      apiKey: "REDACTED",
      secret: "REDACTED",
      databaseUrl: "postgres://app:REDACTED@db:5432/transmute?sslpassword=REDACTED&sslmode=require",
      redisUrl: "rediss://:REDACTED@cache:6380",
      port: 3000,
    });
  });

  it("hides the S3 file store's credentials", () => {
    const config = loadConfig({ TRANSMUTE_STORAGE: "s3", TRANSMUTE_S3_BUCKET: "files", TRANSMUTE_S3_ACCESS_KEY_ID: "AKIAHIDDEN42", TRANSMUTE_S3_SECRET_ACCESS_KEY: "wJalr-hidden-secret" });
    const logged = JSON.stringify(redactConfig(config));
    for (const secret of ["AKIAHIDDEN42", "wJalr-hidden-secret"]) expect(logged).not.toContain(secret);
    expect(redactConfig(config).storage).toMatchObject({ driver: "s3", bucket: "files", accessKeyId: "REDACTED", secretAccessKey: "REDACTED" });
  });

  it("leaves unset credentials unset", () => {
    expect(redactConfig(loadConfig({}))).toMatchObject({ apiKey: undefined, secret: undefined, databaseUrl: undefined });
  });
});
