/**
 * CPU time of one process tree: this process and every process it started (the factory's workers), not the
 * machine's. Linux only (/proc); elsewhere `treeCpuSeconds` returns null.
 *
 * A process's CPU time is utime + stime of /proc/PID/stat; a child that has exited and been waited for is counted in
 * its parent's cutime + cstime (and its own reaped children in its cutime, and so on down). So the tree's time at a
 * moment is the root's four fields plus, for every live descendant, its own four fields: a process is counted while
 * it runs and, once reaped, in its parent, never twice. Differences of two samples give the tree's CPU time between
 * them, including processes that started and ended in between.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** The fields of a /proc/PID/stat line that CPU accounting needs; times in clock ticks. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/**
 * Parses one /proc/PID/stat line (proc(5)). The command name is in parentheses and may itself hold spaces and
 * parentheses, so the fields after it are read from the last ')'.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('('), close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/PID/stat line: no (comm)');
  const pid = Number(line.slice(0, open).trim());
  // After "comm)": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime cutime cstime
  const f = line.slice(close + 1).trim().split(/\s+/);
  if (f.length < 15) throw new Error(`not a /proc/PID/stat line: ${f.length + 2} fields, at least 17 expected`);
  const num = (i: number, name: string): number => {
    const v = Number(f[i]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`not a /proc/PID/stat line: ${name} is not a count of ticks`);
    return v;
  };
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('not a /proc/PID/stat line: no pid');
  return {
    pid, comm: line.slice(open + 1, close), state: f[0], ppid: Number(f[1]),
    utime: num(11, 'utime'), stime: num(12, 'stime'), cutime: num(13, 'cutime'), cstime: num(14, 'cstime'),
  };
}

export interface TreeTicks {
  /** The root's own utime + stime. */
  self: number;
  /** The root's cutime + cstime: children (and their descendants) that have exited and been reaped. */
  reaped: number;
  /** utime + stime + cutime + cstime of every live descendant. */
  live: number;
  total: number;
  /** Live descendants counted. */
  descendants: number;
}

/** The CPU ticks of the tree rooted at `root`, from the stat records of every process (others are ignored). */
export function treeTicks(stats: ProcStat[], root: number): TreeTicks {
  const r = stats.find((s) => s.pid === root);
  if (!r) throw new Error(`process ${root} is not among the stat records`);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    if (s.pid === root) continue;
    const list = children.get(s.ppid);
    if (list) list.push(s); else children.set(s.ppid, [s]);
  }
  let live = 0, descendants = 0;
  const seen = new Set<number>([root]);
  const stack = [...(children.get(root) ?? [])];
  for (let s = stack.pop(); s; s = stack.pop()) {
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    descendants++;
    live += s.utime + s.stime + s.cutime + s.cstime;
    stack.push(...(children.get(s.pid) ?? []));
  }
  const self = r.utime + r.stime, reaped = r.cutime + r.cstime;
  return { self, reaped, live, total: self + reaped + live, descendants };
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // USER_HZ on every Linux architecture Node supports
    }
  }
  return ticksPerSecond;
}

/** Every readable /proc/PID/stat now (processes that end while being read are left out). */
function readAllStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try { out.push(parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8'))); } catch { /* gone meanwhile */ }
  }
  return out;
}

export interface TreeCpu {
  /** CPU seconds of this process and its descendants so far (live ones and reaped ones). */
  seconds: number;
  /** Live descendants at the sample. */
  descendants: number;
}

/** This process tree's CPU time so far; null where /proc is not available. */
export function treeCpuSeconds(root = process.pid): TreeCpu | null {
  try {
    const t = treeTicks(readAllStats(), root);
    return { seconds: t.total / clockTicks(), descendants: t.descendants };
  } catch {
    return null;
  }
}
