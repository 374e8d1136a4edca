/**
 * CPU accounting from /proc (Linux): CPU seconds of process trees, and of the whole machine.
 * A tree counts each live process's utime+stime plus cutime+cstime (children it has already
 * reaped), so a pool child that exits between two readings moves from "live" to its parent's
 * cutime and the sum stays monotone.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticks;
/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK, normally 100). */
export function clockTicks() {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** Whether /proc is there to read (Linux). */
export function procAvailable() {
  try {
    readFileSync("/proc/self/stat");
    readFileSync("/proc/stat");
    return true;
  } catch {
    return false;
  }
}

/** One process's fields from /proc/<pid>/stat, or null when it is gone. */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ")".
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state): field n is rest[n - 3].
  return {
    pid,
    comm,
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
    // Start time in ticks since boot: with the pid, identifies a process (pids are reused).
    starttime: Number(rest[19]),
  };
}

/** Every live process: pid -> stat. */
function allProcesses() {
  const procs = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) procs.set(stat.pid, stat);
  }
  return procs;
}

/** `roots` and all their live descendants, as { pid, starttime }. */
export function descendants(roots) {
  const procs = allProcesses();
  return treeOf(procs, roots).map((p) => ({ pid: p.pid, starttime: p.starttime }));
}

/** Whether the process `pid` started at `starttime` is still alive (not a reused pid). */
export function stillAlive({ pid, starttime }) {
  return readStat(pid)?.starttime === starttime;
}

function treeOf(procs, roots) {
  const children = new Map();
  for (const p of procs.values()) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p);
  }
  const out = [];
  const seen = new Set();
  const stack = roots.map((pid) => procs.get(pid)).filter(Boolean);
  while (stack.length > 0) {
    const p = stack.pop();
    if (seen.has(p.pid)) continue;
    seen.add(p.pid);
    out.push(p);
    for (const c of children.get(p.pid) ?? []) stack.push(c);
  }
  return out;
}

/**
 * Machine-wide CPU seconds summed over all cores: `busy` is what processes and the kernel ran
 * (user, nice, system, irq, softirq; guest time is inside user), `steal` what the hypervisor
 * gave to other guests while this one wanted to run.
 */
export function systemCpuSeconds() {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const hz = clockTicks();
  return { busy: (user + nice + system + irq + softirq) / hz, steal: (steal ?? 0) / hz };
}

/**
 * CPU seconds of one process split in two: `self` (its own utime+stime) and `children`
 * (every live descendant's, plus what it and they reaped: cutime+cstime).
 */
export function splitCpuSeconds(pid) {
  const procs = allProcesses();
  const tree = treeOf(procs, [pid]);
  let total = 0;
  let self = 0;
  for (const p of tree) {
    total += p.utime + p.stime + p.cutime + p.cstime;
    if (p.pid === pid) self = p.utime + p.stime;
  }
  const hz = clockTicks();
  return { self: self / hz, children: (total - self) / hz };
}

/**
 * CPU seconds of each Postgres backend serving database `dbName` (found by the process title,
 * "postgres: ... <user> <db> <client> <state>") and of each Redis server process, by pid, so a
 * delta can be taken per process (a backend that starts in between counts from zero).
 */
export function servicesCpuByPid(dbName) {
  const out = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat) continue;
    let take = stat.comm === "redis-server";
    if (!take && stat.comm === "postgres") {
      try {
        const title = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ");
        take = title.includes(` ${dbName} `);
      } catch {
        take = false;
      }
    }
    if (take) out.set(`${stat.pid}:${stat.starttime}`, (stat.utime + stat.stime + stat.cutime + stat.cstime) / clockTicks());
  }
  return out;
}

/** The CPU seconds spent between two servicesCpuByPid readings. */
export function servicesCpuDelta(before, after) {
  let sum = 0;
  for (const [key, value] of after) sum += value - (before.get(key) ?? 0);
  return sum;
}
