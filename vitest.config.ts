import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // s3rver (the S3 peer of the tests) makes its listing continuation tokens with DES, which
    // Node 20's OpenSSL 3 refuses without the legacy provider: every listing longer than one
    // page would answer 500. Only the test processes get it; the servers they spawn do not.
    poolOptions: { forks: { execArgv: ["--openssl-legacy-provider"] } },
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
