/** Small helpers: a bounded-concurrency runner, percentiles and text tables. */

/**
 * Runs `fn(i)` for i in 0..n-1 with at most `concurrency` in flight. Stops starting new ones
 * after the first failure and rethrows it once the running ones have settled.
 */
export async function runPool(n, concurrency, fn) {
  const results = new Array(n);
  let next = 0;
  let failure = null;
  const t0 = performance.now();
  const lane = async () => {
    while (failure === null && next < n) {
      const i = next++;
      try {
        results[i] = await fn(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  const wallMs = performance.now() - t0;
  if (failure) throw failure;
  return { results, wallMs };
}

/** The p-th percentile (0-100) of `values`, interpolated between closest ranks. */
export function percentile(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

/** p50/p95/p99 of a list. */
export function summary(values) {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), n: values.length };
}

/** A number with `digits` decimals, or "-" when it is not a number. */
export function fmt(value, digits = 1) {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/** A plain text table: `rows` are arrays of cells; numbers-looking cells align right. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const numeric = (s) => /^[-+]?[\d.,]+( ?(ms|s|%|x|\/s|MB|kB|B))?$|^-$/.test(s);
  const line = (r) => r.map((c, i) => (numeric(c) && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(all[0]), sep, ...all.slice(1).map(line)].join("\n");
}
