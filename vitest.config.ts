import { defineConfig } from "vitest/config";

/**
 * The scaled-out files that move stored files between processes: run a second time with the
 * file store on a shared directory (the scaled-s3 project runs every scaled file on S3).
 */
const SCALED_ON_LOCAL_DISK = [
  "test/scaled/cluster-jobs.test.ts",
  "test/scaled/worker-kill.test.ts",
  "test/scaled/retention-ratelimit.test.ts",
  "test/scaled/lists-and-lifecycle.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // s3rver (the S3 peer of the tests) makes its listing continuation tokens with DES, which
    // Node 20's OpenSSL 3 refuses without the legacy provider: every listing longer than one
    // page would answer 500. Only the test processes get it; the servers they spawn do not.
    poolOptions: { forks: { execArgv: ["--openssl-legacy-provider"] } },
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "main",
          include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
          exclude: ["test/scaled/**", "**/node_modules/**"],
        },
      },
      // Scaled out, every process keeps its files in a bucket of an s3rver of the cluster's
      // own (TRANSMUTE_STORAGE=s3): the configuration of gateways and workers on several machines.
      { extends: true, test: { name: "scaled-s3", include: ["test/scaled/**/*.test.ts"], env: { TRANSMUTE_TEST_STORAGE: "s3" } } },
      { extends: true, test: { name: "scaled-local", include: SCALED_ON_LOCAL_DISK, env: { TRANSMUTE_TEST_STORAGE: "local" } } },
    ],
  },
});
