/**
 * The Docker files cannot be built here (no Docker engine), so this checks them against the
 * repository instead: what docker-compose.yml runs, what docker/Dockerfile copies and runs, and
 * that the environment the containers get is one `loadConfig` accepts for their role.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, type Role } from "@transmute/config";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const exists = (path: string) => existsSync(join(ROOT, path));

// ---- docker-compose.yml --------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string };
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  deploy?: { replicas?: number };
  command?: string[] | string;
  entrypoint?: string[] | string;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as Compose;
const services = compose.services;
/** The services that run Transmute (built from our Dockerfile), by the target they build. */
const appServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

/** Compose's interpolation with every variable unset: `${X:-default}` gives the default. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_match, name: string, op?: string, arg?: string) => {
    if (op === "?") throw new Error(`${name} must be set: ${arg ?? ""}`);
    return op === "-" ? (arg ?? "") : "";
  });
}

/** A service's environment as the container sees it, with every operator variable unset. */
function serviceEnv(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ""))]));
}

// ---- docker/Dockerfile ---------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  /** The image or earlier stage it starts from, ARGs substituted. */
  from: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): { stages: Stage[]; args: Record<string, string> } {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = "";
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = "", rest = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === "FROM") {
      const [image = "", , alias] = rest.split(/\s+/);
      const from = image.replace(/\$\{?([A-Z0-9_]+)\}?/g, (_m, name: string) => args[name] ?? "");
      stages.push({ name: alias ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0 && upper === "ARG") {
      const [name = "", value = ""] = rest.split("=");
      args[name] = value;
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push({ keyword: upper, args: rest });
    }
  }
  return { stages, args };
}

const dockerfilePaths = [...new Set(appServices.map(([, s]) => s.build?.dockerfile ?? "Dockerfile"))];
const dockerfiles = new Map(dockerfilePaths.filter(exists).map((path) => [path, parseDockerfile(read(path))]));

/** A stage and the stages it is built on, base first. */
function stageChain(stages: Stage[], name: string): Stage[] {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage "${name}"`);
  const base = stages.find((s) => s.name === stage.from);
  return base ? [...stageChain(stages, base.name), stage] : [stage];
}

/** The ENV a target's image ends with. */
function imageEnv(chain: Stage[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of chain.flatMap((s) => s.instructions)) {
    if (keyword !== "ENV") continue;
    if (!args.includes("=")) {
      const [name = "", ...value] = args.split(/\s+/);
      env[name] = value.join(" ");
      continue;
    }
    for (const pair of args.split(/\s+/)) {
      const eq = pair.indexOf("=");
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

/** The value of the last instruction `keyword` in a chain (a later stage overrides an earlier one). */
function lastOf(chain: Stage[], keyword: string): string | undefined {
  return chain.flatMap((s) => s.instructions).filter((i) => i.keyword === keyword).at(-1)?.args;
}

/** COPY's flags, sources and destination. */
function parseCopy(args: string): { from: string | null; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length) ?? null;
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
}

/** `.dockerignore` as a predicate on context paths (a path is out when it or a parent matches). */
function dockerignore(): (path: string) => boolean {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (patterns.some((p) => p.startsWith("!"))) throw new Error("exceptions (!) are not understood by this test; extend it");
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/^\/+|\/+$/g, "")
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*\*\//g, "\u0000")
      .replace(/\*\*/g, "\u0001")
      .replace(/\*/g, "[^/]*")
      .replace(/\?/g, "[^/]")
      .replace(/\u0000/g, "(?:.*/)?")
      .replace(/\u0001/g, ".*");
    return new RegExp(`^${body}$`);
  });
  return (path) => {
    const parts = path.replace(/^\.\/+/, "").replace(/\/+$/, "").split("/");
    return parts.some((_, i) => regexes.some((r) => r.test(parts.slice(0, i + 1).join("/"))));
  };
}

const rootPackage = JSON.parse(read("package.json")) as { scripts: Record<string, string>; workspaces: string[] };

/** A file a command names: a source file, or a build output whose TypeScript source exists. */
function sourceExists(path: string): boolean {
  if (exists(path)) return true;
  const source = path.replace(/\/dist\//, "/src/").replace(/\.js$/, ".ts");
  return source !== path && exists(source);
}

// ---- the tests -----------------------------------------------------------------------------

describe("docker-compose.yml", () => {
  it("runs postgres, redis, a gateway and at least two workers", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["postgres", "redis", "gateway", "worker"]));
    expect(services.postgres!.image).toMatch(/^postgres:(1[5-9]|[2-9]\d)/); // migrations need PostgreSQL 15+
    expect(services.redis!.image).toMatch(/^redis:/);
    const targets = appServices.map(([, s]) => s.build?.target);
    expect(targets.filter((t) => t === "gateway")).toHaveLength(1);
    const workers = appServices.filter(([, s]) => s.build?.target === "worker").reduce((n, [, s]) => n + (s.deploy?.replicas ?? 1), 0);
    expect(workers).toBeGreaterThanOrEqual(2);
  });

  it("builds every Transmute service from a Dockerfile in the repository, at a stage it has", () => {
    expect(appServices.length).toBeGreaterThanOrEqual(2);
    for (const [name, service] of appServices) {
      const path = service.build?.dockerfile ?? "Dockerfile";
      expect(service.build?.context ?? ".", name).toBe(".");
      expect(exists(path), `${name}: ${path} does not exist`).toBe(true);
      const stages = dockerfiles.get(path)!.stages.map((s) => s.name);
      expect(stages, `${name}: target ${service.build?.target}`).toContain(service.build?.target);
    }
  });

  it("gives every Transmute service the same database, Redis, secret, file store and public URL", () => {
    const shared = ["DATABASE_URL", "REDIS_URL", "TRANSMUTE_SECRET", "TRANSMUTE_STORAGE", "TRANSMUTE_S3_ENDPOINT", "TRANSMUTE_S3_BUCKET", "TRANSMUTE_S3_ACCESS_KEY_ID", "TRANSMUTE_S3_SECRET_ACCESS_KEY", "PUBLIC_URL"];
    const envs = appServices.map(([, s]) => s.environment ?? {});
    for (const name of shared) {
      expect(envs[0], name).toHaveProperty(name);
      for (const env of envs) expect(env[name], name).toBe(envs[0]![name]);
    }
    const env = serviceEnv(appServices[0]![1]);
    expect(new URL(env.DATABASE_URL!).hostname).toBe("postgres");
    expect(new URL(env.REDIS_URL!).hostname).toBe("redis");
    expect(new URL(env.DATABASE_URL!).password).toBe(serviceEnv(services.postgres!).POSTGRES_PASSWORD);
    expect(new URL(env.DATABASE_URL!).pathname).toBe(`/${serviceEnv(services.postgres!).POSTGRES_DB}`);
  });

  it("keeps files in the S3-compatible store the compose file runs, in the bucket its init creates, with its credentials", () => {
    const env = serviceEnv(appServices[0]![1]);
    expect(env.TRANSMUTE_STORAGE).toBe("s3");
    const store = services[new URL(env.TRANSMUTE_S3_ENDPOINT!).hostname];
    expect(store, `no service named ${new URL(env.TRANSMUTE_S3_ENDPOINT!).hostname}`).toBeDefined();
    expect(store!.image).toMatch(/^minio\/minio/);
    const storeEnv = serviceEnv(store!);
    expect([env.TRANSMUTE_S3_ACCESS_KEY_ID, env.TRANSMUTE_S3_SECRET_ACCESS_KEY]).toEqual([storeEnv.MINIO_ROOT_USER, storeEnv.MINIO_ROOT_PASSWORD]);
    expect(String(store!.command)).toContain(`:${new URL(env.TRANSMUTE_S3_ENDPOINT!).port}`);
    expect(String(store!.healthcheck?.test)).toContain("ready");
    const init = services["minio-init"]!;
    expect(String(init.command)).toContain(`mc mb --ignore-existing store/${env.TRANSMUTE_S3_BUCKET}`);
    expect(String(init.command)).toContain(env.TRANSMUTE_S3_ENDPOINT);
    expect(init.depends_on?.minio?.condition).toBe("service_healthy");
    for (const [name, service] of appServices) {
      expect(service.depends_on?.["minio-init"]?.condition, name).toBe("service_completed_successfully");
      expect(service.volumes ?? [], `${name} needs no shared volume`).toEqual([]);
    }
    expect(Object.keys(compose.volumes ?? {})).toContain((store!.volumes ?? [])[0]!.split(":")[0]);
  });

  it("starts Transmute only once postgres and redis are healthy, and both have healthchecks", () => {
    for (const [name, service] of appServices) {
      expect(service.depends_on?.postgres?.condition, name).toBe("service_healthy");
      expect(service.depends_on?.redis?.condition, name).toBe("service_healthy");
    }
    expect(String(services.postgres!.healthcheck?.test)).toContain("pg_isready");
    expect(String(services.redis!.healthcheck?.test)).toContain("ping");
  });

  it.each(appServices.map(([name, s]) => [name, s] as const))("%s gets an environment loadConfig accepts for its role", (_name, service) => {
    const path = service.build?.dockerfile ?? "Dockerfile";
    const chain = stageChain(dockerfiles.get(path)!.stages, service.build!.target!);
    const role = service.build!.target as Role;
    const env = { ...imageEnv(chain), ...serviceEnv(service) };
    const config = loadConfig(env, { role, cwd: "/app" });
    expect(config.mode).toBe("scaled");
    expect(config.host).toBe("0.0.0.0");
  });

  it("publishes the gateway's port", () => {
    const gateway = appServices.find(([, s]) => s.build?.target === "gateway")![1];
    const chain = stageChain(dockerfiles.get(gateway.build!.dockerfile!)!.stages, "gateway");
    const port = imageEnv(chain).PORT;
    expect(gateway.ports?.some((p) => p.endsWith(`:${port}`)), `no port maps to ${port}`).toBe(true);
  });
});

describe.each(dockerfilePaths)("%s", (path) => {
  const { stages } = dockerfiles.get(path) ?? { stages: [] };
  const isIgnored = dockerignore();
  const targets = ["gateway", "worker"];

  it("has a gateway and a worker target on node:20 bookworm-slim", () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(targets));
    for (const stage of stages) {
      if (!stages.some((s) => s.name === stage.from)) expect(stage.from, stage.name).toMatch(/^node:20(\.\d+)*-bookworm-slim$/);
    }
  });

  it("copies only sources that exist in the repository and that .dockerignore lets through", () => {
    const copies = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD").map((i) => ({ stage: s.name, ...parseCopy(i.args) })));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      if (copy.from !== null) {
        expect(stages.map((s) => s.name), `COPY --from=${copy.from}`).toContain(copy.from);
        continue;
      }
      for (const source of copy.sources) {
        expect(exists(source), `${copy.stage}: COPY ${source} does not exist`).toBe(true);
        expect(isIgnored(source), `${copy.stage}: COPY ${source} is excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it("copies every workspace's package.json before npm ci", () => {
    const build = stages.find((s) => s.instructions.some((i) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.args)))!;
    expect(build, "no stage runs npm ci").toBeDefined();
    const before = build.instructions.slice(0, build.instructions.findIndex((i) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.args)));
    const copied = before.filter((i) => i.keyword === "COPY").flatMap((i) => parseCopy(i.args).sources);
    const workspaces = rootPackage.workspaces.flatMap((glob) => {
      const dir = glob.replace(/\/\*$/, "");
      return readdirSync(join(ROOT, dir)).map((name) => `${dir}/${name}/package.json`).filter(exists);
    });
    expect(workspaces.length).toBeGreaterThan(0);
    for (const manifest of ["package.json", "package-lock.json", ...workspaces]) expect(copied, manifest).toContain(manifest);
  });

  it("runs only npm scripts and files that exist", () => {
    const runs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === "RUN").map((i) => ({ stage: s, args: i.args })));
    for (const { stage, args } of runs) {
      for (const [, script] of args.matchAll(/\bnpm run ([\w:-]+)/g)) expect(rootPackage.scripts, `npm run ${script}`).toHaveProperty(script!);
      for (const [, file] of args.matchAll(/\bnode ([\w./-]+\.m?js)\b/g)) expect(sourceExists(file!), `node ${file}`).toBe(true);
      for (const [, file] of args.matchAll(/\bbash ([\w./-]+)/g)) {
        // A script run by bash was copied into this stage first, from a file of the repository.
        const copied = stage.instructions.filter((i) => i.keyword === "COPY").map((i) => parseCopy(i.args)).find((c) => c.dest === file);
        expect(copied, `bash ${file}: not copied into ${stage.name}`).toBeDefined();
        expect(copied!.sources.every(exists)).toBe(true);
      }
    }
  });

  it.each(targets)("the %s target runs its own role of the built server, as a non-root user, with HOST=0.0.0.0", (target) => {
    const chain = stageChain(stages, target);
    const cmd = JSON.parse(lastOf(chain, "CMD") ?? "[]") as string[];
    expect(cmd[0]).toBe("node");
    expect(sourceExists(cmd[1]!), `CMD ${cmd[1]}`).toBe(true);
    expect(cmd[2]).toBe(target);
    expect(read("apps/server/src/main.ts")).toContain(`command !== "${target}"`);
    const user = lastOf(chain, "USER");
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user!.split(":")[0]);
    expect(imageEnv(chain).HOST).toBe("0.0.0.0");
  });

  it("checks the gateway's health on the /healthz route the gateway serves", () => {
    const healthcheck = lastOf(stageChain(stages, "gateway"), "HEALTHCHECK") ?? "";
    expect(healthcheck).toContain("/healthz");
    expect(read("apps/gateway/src/app.ts")).toContain('app.get("/healthz"');
    expect(lastOf(stageChain(stages, "gateway"), "EXPOSE")).toBe(imageEnv(stageChain(stages, "gateway")).PORT);
  });

  it("keeps what the image builds itself out of the build context", () => {
    for (const path of ["node_modules", "packages/db/node_modules", "apps/server/dist", "packages/db/src/generated", "data", ".git"]) {
      expect(isIgnored(path), path).toBe(true);
    }
    expect(isIgnored("packages/db/src/index.ts")).toBe(false);
  });
});
