/**
 * Starting and stopping Debian's Chromium for one call: through playwright-core (never a browser
 * Playwright downloads), with its profile, caches and temporary files in a directory under the
 * task's workDir, every request that escapes interception pointed at a dead proxy, and a kill of
 * its whole process group when the call times out, is aborted, or closing hangs.
 */
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { chromium, type BrowserContext, type BrowserContextOptions } from "playwright-core";
import { AppError } from "@transmute/core";
import { TOOL_PATH } from "./run-tool.js";

/** Where the browser looks for the command and what it runs with. */
export interface BrowserLaunchSettings {
  /** The chromium executable, a name looked up on `env.PATH` or a path (default "chromium"). */
  command?: string;
  /** The browser's environment (default: only a Debian PATH): it renders untrusted pages and gets no secrets. */
  env?: Record<string, string>;
}

/**
 * Chromium's flags. --no-sandbox: the worker runs as root in a container, where the sandbox
 * cannot start; isolation comes from the dead proxy, the route that answers every request and,
 * for conversions, JavaScript being off. The rest turn off what would reach the network on its
 * own (updates, sync, metrics, QUIC that bypasses the proxy) or needs hardware we do not have.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-domain-reliability",
  "--disable-breakpad",
  "--metrics-recording-only",
  "--no-pings",
  "--disable-extensions",
  // Containers have a 64 MB /dev/shm: Chromium crashes rendering large pages there; this moves
  // its shared memory to TMPDIR, which is under workDir.
  "--disable-dev-shm-usage",
  // Defense in depth: any request that escapes the route (a bug, a new request kind) goes to a
  // port where nothing listens. `<-loopback>` removes Chromium's implicit bypass of localhost,
  // so not even the worker's own loopback services are reachable.
  "--proxy-server=http://127.0.0.1:9",
  "--proxy-bypass-list=<-loopback>",
];

/** A running browser and how to get rid of it. */
export interface LaunchedBrowser {
  context: BrowserContext;
  /** Closes the browser, SIGKILLing its process group if it does not exit within 5 s; removes its directory. Never throws. */
  dispose(): Promise<void>;
  /** SIGKILLs the browser's processes now (timeouts, aborts), then removes its directory. */
  kill(): Promise<void>;
}

/**
 * Finds the browser's binary: `command` on PATH (or as given). Debian's /usr/bin/chromium is a
 * shell script that adds flags from /etc/chromium.d (extensions, GPU rasterisation, API keys in
 * the environment): when that script is what we found, the real binary beside its LIBDIR is
 * launched instead, so only our flags apply.
 */
export async function resolveChromium(settings: BrowserLaunchSettings = {}): Promise<string> {
  const command = settings.command ?? "chromium";
  const path = isAbsolute(command) ? command : await findOnPath(command, (settings.env ?? { PATH: TOOL_PATH }).PATH ?? TOOL_PATH);
  const head = await readFile(path).then((b) => b.subarray(0, 4096).toString("latin1"), () => "");
  if (head.startsWith("#!")) {
    const libdir = /^LIBDIR=(\/\S+)$/m.exec(head)?.[1];
    const app = /^APPNAME=(\S+)$/m.exec(head)?.[1];
    if (libdir && app) {
      const real = join(libdir, app);
      if (await access(real, constants.X_OK).then(() => true, () => false)) return real;
    }
  }
  return path;
}

async function findOnPath(command: string, pathList: string): Promise<string> {
  for (const dir of pathList.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw Object.assign(new Error(`${command} was not found on PATH (${pathList})`), { code: "ENOENT" });
}

/**
 * Launches Chromium with a fresh profile in a new directory under `workDir`. A persistent
 * context is used because plain launch() puts its profile in the Node process's os.tmpdir(),
 * outside the task's scratch; here profile, artifacts, HOME (fontconfig's cache) and TMPDIR all
 * live in the one directory that dispose() removes.
 */
export async function launchBrowser(
  executablePath: string,
  workDir: string,
  settings: BrowserLaunchSettings,
  contextOptions: BrowserContextOptions,
): Promise<LaunchedBrowser> {
  await mkdir(workDir, { recursive: true });
  const root = await mkdtemp(join(workDir, ".chromium-"));
  const home = join(root, "home");
  await mkdir(home);
  // Chromium puts its singleton socket under TMPDIR, and a Unix socket path must stay under
  // 108 bytes: a task's scratch path is too deep for it, so TMPDIR alone is a short directory of
  // the system's temp, removed with the rest.
  const shortTmp = await mkdtemp(join(tmpdir(), "tmc-"));
  const env = {
    PATH: TOOL_PATH,
    ...settings.env,
    HOME: home,
    TMPDIR: shortTmp,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
  };
  const profile = join(root, "profile");
  const removeRoot = async () => {
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
    await rm(shortTmp, { recursive: true, force: true }).catch(() => undefined);
  };
  const killAll = async () => {
    // The browser leads its own process group (Playwright spawns it detached); its helpers
    // (zygote, renderers) are in that group and all name the profile on their command line.
    for (const pid of await processesNaming(profile)) {
      try { process.kill(-pid, "SIGKILL"); } catch { /* not a group leader, or gone */ }
      try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    }
  };
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      args: [...CHROMIUM_ARGS],
      // Playwright's defaults include --headless and friends already; ours are added on top.
      env,
      artifactsDir: join(root, "artifacts"),
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      timeout: 30_000,
      ...contextOptions,
    });
  } catch (err) {
    await killAll();
    await removeRoot();
    throw new AppError("processing_failed", "the browser could not be started", { detail: String(err) });
  }
  let closed = false;
  return {
    context,
    async dispose() {
      if (closed) return;
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<void>((resolve) => { timer = setTimeout(resolve, 5000); });
      await Promise.race([context.close().catch(() => undefined), hung]);
      clearTimeout(timer);
      await killAll();
      await removeRoot();
    },
    async kill() {
      closed = true;
      await killAll();
      // Lets Playwright see the pipe close so its own bookkeeping ends; it can no longer hang.
      await Promise.race([context.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000))]);
      await removeRoot();
    },
  };
}

/** Pids of the processes whose command line contains `needle` (a path unique to one launch). */
export async function processesNaming(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

/** How one call in a browser is bounded. */
export interface BrowserCallLimits {
  /** Wall-clock limit, launch included; past it the browser is killed and the call rejects with engine_timeout. */
  timeoutMs: number;
  /** Aborting kills the browser; the call rejects with canceled. */
  signal?: AbortSignal;
  /** What the work is, for the messages (e.g. "the capture"). */
  what: string;
}

/**
 * Runs `work` in a browser launched for it, then closes it. A timeout or an abort SIGKILLs the
 * browser at once (even mid-launch) and removes its directory before the call rejects, so a
 * rejected call leaves no process and no file of the browser's behind.
 */
export async function withBrowser<T>(
  executablePath: string,
  workDir: string,
  settings: BrowserLaunchSettings,
  contextOptions: BrowserContextOptions,
  limits: BrowserCallLimits,
  work: (browser: LaunchedBrowser) => Promise<T>,
): Promise<T> {
  if (limits.signal?.aborted) throw new AppError("canceled", `${limits.what} was canceled`);
  let stopped: AppError | undefined;
  let browser: LaunchedBrowser | undefined;
  let onStop: (err: AppError) => void = () => undefined;
  const stop = new Promise<never>((_, reject) => {
    onStop = reject;
  });
  stop.catch(() => undefined);
  const halt = (err: AppError) => {
    if (stopped) return;
    stopped = err;
    onStop(err);
  };
  const timer = setTimeout(
    () => halt(new AppError("engine_timeout", `${limits.what} took longer than ${Math.round(limits.timeoutMs / 1000)} s and was stopped`)),
    limits.timeoutMs,
  );
  const onAbort = () => halt(new AppError("canceled", `${limits.what} was canceled`));
  limits.signal?.addEventListener("abort", onAbort, { once: true });
  const launching = launchBrowser(executablePath, workDir, settings, contextOptions);
  try {
    browser = await Promise.race([launching, stop]);
    return await Promise.race([work(browser), stop]);
  } catch (err) {
    if (stopped) {
      // A launch still under way when the limit struck is killed as soon as it is up.
      const late = browser ?? (await launching.catch(() => undefined));
      await late?.kill();
      throw stopped;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    limits.signal?.removeEventListener("abort", onAbort);
    await browser?.dispose();
  }
}
