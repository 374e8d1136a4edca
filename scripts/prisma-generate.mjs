// Generates the Prisma client into packages/db/src/generated/prisma, offline and only when needed.
// Runs from the root `postinstall`, so it must work in a fresh clone right after `npm ci` and stay
// quiet: one line on success, the CLI's full output only when generation fails.
//
// Why the fake engine path: `prisma generate` never runs the schema engine, but the CLI still
// tries to download it when PRISMA_SCHEMA_ENGINE_BINARY is unset, and this machine (like CI) has
// no route to the engine download host. Pointing the variable at any existing file skips that.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const schemaPath = join(root, "prisma", "schema.prisma");
const outputDir = join(root, "packages", "db", "src", "generated", "prisma");
// Kept beside (not inside) the output folder, which the generator owns and may wipe.
const hashPath = join(outputDir, "..", "schema.hash");
const require = createRequire(join(root, "package.json"));

function readVersion(pkg) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")).version;
  } catch {
    return null;
  }
}

const prismaVersion = readVersion("prisma");
if (!prismaVersion) {
  console.error("prisma-generate: the `prisma` package is not installed (install dev dependencies); cannot generate the client");
  process.exit(1);
}

// The generated code depends on the schema and on the generator's version, so both go in the hash.
const hash = createHash("sha256")
  .update(readFileSync(schemaPath))
  .update(`\0prisma@${prismaVersion}\0@prisma/client@${readVersion("@prisma/client")}`)
  .digest("hex");

const upToDate =
  existsSync(join(outputDir, "client.ts")) && existsSync(hashPath) && readFileSync(hashPath, "utf8").trim() === hash;
if (upToDate) {
  console.log(`prisma-generate: client up to date (${relative(root, outputDir)})`);
  process.exit(0);
}

const cli = join(dirname(require.resolve("prisma/package.json")), "build", "index.js");
const result = spawnSync(process.execPath, [cli, "generate", "--schema", schemaPath], {
  cwd: root,
  encoding: "utf8",
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || fileURLToPath(import.meta.url),
    CHECKPOINT_DISABLE: "1",
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
  },
});
if (result.status !== 0) {
  process.stderr.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  console.error(`prisma-generate: \`prisma generate\` failed (exit ${result.status ?? result.signal})`);
  process.exit(1);
}
writeFileSync(hashPath, `${hash}\n`);
console.log(`prisma-generate: generated the client (prisma ${prismaVersion}) into ${relative(root, outputDir)}`);
