#!/usr/bin/env node
/**
 * The `transmute` command. `npm start` runs `transmute` (gateway and worker in one process);
 * `transmute gateway` and `transmute worker` run one role each; `accounts` and `keys` manage
 * API keys in either mode.
 */
import { ConfigError, describeSettings, loadConfig, type Role } from "@transmute/config";
import { runAdminCommand } from "./admin.js";
import { DataDirLockedError } from "./data-dir-lock.js";
import { startTransmute } from "./start.js";

const USAGE = `Usage: transmute [all|gateway|worker]
       transmute accounts create --email <email> [--name <name>]
       transmute keys list [--email <email>]
       transmute keys create --email <email> [--label <label>]
       transmute keys revoke <key id>
       transmute settings`;

// The AWS SDK warns on every start under Node 20 that its releases after January 2027 will need
// Node 22. The versions the lock pins run on Node 20; the warning concerns an upgrade of the SDK,
// which docs/connectors.md notes. An operator who sets the variable keeps their own choice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

async function main(argv: string[]): Promise<number> {
  const [command = "all", ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return 0;
  }
  if (command === "settings") {
    for (const s of describeSettings()) console.log(`${s.name} (default: ${s.default})\n    ${s.doc}`);
    return 0;
  }
  if (command === "accounts" || command === "keys") return runAdminCommand(command, rest);
  if (command !== "all" && command !== "gateway" && command !== "worker") {
    console.error(`Unknown command "${command}".\n${USAGE}`);
    return 2;
  }
  const config = loadConfig(process.env, { role: command as Role });
  const app = await startTransmute({ config });
  const lines = [`Transmute ${config.mode === "embedded" ? "(embedded)" : "(scaled out)"} running the ${command === "all" ? "gateway and a worker" : command}`];
  if (app.url) lines.push(`  API:      ${config.publicUrl}/v1  (listening on ${app.url})`);
  if (app.apiKey && config.mode === "embedded" && !config.apiKey) {
    lines.push(`  API key:  ${app.apiKey}${app.apiKeyCreated ? "  (new; kept in " + config.dataDir + "/api-key)" : ""}`);
  } else if (app.apiKey) {
    lines.push("  API key:  TRANSMUTE_API_KEY");
  } else if (command !== "worker") {
    lines.push("  API key:  none set; create one with `npm run transmute -- accounts create --email you@example.com`");
  }
  if (app.worker) lines.push(`  Engines:  ${app.worker.classes.join(", ")}`);
  console.log(lines.join("\n"));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.engine.log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await app.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof DataDirLockedError) console.error(err.message);
    else console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
