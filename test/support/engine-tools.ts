/**
 * Engine tests run against the real tools (LibreOffice, ffmpeg, poppler, Chromium, 7-Zip). On a
 * developer machine without one, its tests are skipped with a loud notice; with CI=true a missing
 * tool fails the run instead (`.ci/run` installs them all through scripts/install-engines.sh).
 */

/** What an engine probe answers, as far as these tests need it. */
interface ProbeLike {
  available: boolean;
  missing?: string;
}

/** Whether the engine probed available; throws under CI=true when it is not. */
export async function engineAvailable(what: string, probe: () => Promise<ProbeLike>): Promise<boolean> {
  const result = await probe().catch((err: unknown): ProbeLike => ({ available: false, missing: String(err) }));
  if (result.available) return true;
  const why = result.missing ?? "the probe found it unusable";
  if (process.env.CI === "true") throw new Error(`CI=true and the ${what} engine is not available (${why}): its tests cannot run.`);
  console.warn(`\n!!! ${what} engine not available (${why}): SKIPPING its tests. Run scripts/install-engines.sh to run them (CI=true makes this an error).\n`);
  return false;
}
