/**
 * The browser engine (class `browser`): Debian's Chromium driven by playwright-core, for web
 * page capture (MHTML through the caller's outbound fetch) and for mhtml, html and md to png,
 * jpg and pdf (offline). Each call launches its own browser (about half a second) with its
 * profile under the task's workDir, so no state passes from one untrusted page to the next and a
 * timeout or an abort kills exactly that call's processes.
 */
import { AppError, normalizeFormat } from "@transmute/core";
import type { CaptureRequest, CaptureResult, ConversionPair, ConvertContext, Engine, EngineProbe } from "./engine.js";
import { resolveChromium, type BrowserLaunchSettings } from "./browser-launch.js";
import { capturePage } from "./browser-capture.js";
import { BROWSER_INPUTS, convertDocument } from "./browser-convert.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the browser engine. */
export interface BrowserEngineOptions extends BrowserLaunchSettings {
  /** Wall-clock limit of one capture or conversion, the browser's launch included (default 60 s). */
  timeoutMs?: number;
  /** Most pixels of a full-page screenshot when the request sets no limit (default 50,000,000). */
  maxPixels?: number;
}

/** The browser engine. */
export interface BrowserEngine extends Engine {
  capture(request: CaptureRequest, context?: ConvertContext): Promise<CaptureResult>;
}

const MISSING_HINT = "install the Debian package chromium (scripts/install-engines.sh does). Until then web page capture and mhtml, html and md conversions are not offered.";

/** Every conversion the engine does once Chromium runs. */
const CONVERSIONS: ConversionPair[] = BROWSER_INPUTS.flatMap((from) => ["png", "jpg", "pdf"].map((to) => ({ from, to })));

/** Runs `<chromium> --version`; a missing or broken Chromium is `available: false` with what to install. */
export async function probeBrowser(options: BrowserEngineOptions = {}): Promise<EngineProbe> {
  const command = options.command ?? "chromium";
  try {
    const executable = await resolveChromium(options);
    const run = await runTool(executable, ["--version"], { env: { PATH: TOOL_PATH, ...options.env }, timeoutMs: 15_000, what: "chromium --version" });
    if (run.code !== 0) throw new Error(`exit code ${run.code}: ${run.stderr.trim()}`);
    return { version: run.stdout.trim(), conversions: CONVERSIONS, available: true };
  } catch (err) {
    const notFound = (err as NodeJS.ErrnoException).code === "ENOENT";
    const why = notFound ? `${command} was not found` : `${command} --version failed (${String(err)})`;
    return { version: "unknown", conversions: [], available: false, missing: `Chromium: ${why}; ${MISSING_HINT}` };
  }
}

/** Creates the browser engine; Chromium is looked up on first use. */
export function createBrowserEngine(options: BrowserEngineOptions = {}): BrowserEngine {
  const timeoutMs = options.timeoutMs ?? 60_000;
  let executable: Promise<string> | undefined;
  const executablePath = () => {
    executable ??= resolveChromium(options).catch((err: unknown) => {
      executable = undefined;
      throw new AppError("processing_failed", "the browser engine is not available on this worker", { detail: `${String(err)}; ${MISSING_HINT}` });
    });
    return executable;
  };
  return {
    name: "chromium",
    engineClass: "browser",
    probe: () => probeBrowser(options),
    async convert(request, context) {
      const from = normalizeFormat(request.inputFormat);
      const to = normalizeFormat(request.outputFormat);
      if (!CONVERSIONS.some((pair) => pair.from === from && pair.to === to)) {
        throw new AppError("unsupported_conversion", `the browser engine does not convert ${from} to ${to}`);
      }
      return convertDocument({ ...options, executablePath: await executablePath(), timeoutMs, maxPixels: options.maxPixels ?? 50_000_000 }, request, context);
    },
    async capture(request, context) {
      return capturePage({ ...options, executablePath: await executablePath(), timeoutMs }, request, context);
    },
    // Nothing outlives a call: each one closes or kills its own browser.
    close: () => Promise.resolve(),
  };
}
