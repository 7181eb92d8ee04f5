/**
 * CPU accounting of a process tree (the factory bench's cpu_util): /proc/PID/stat lines parsed, a tree summed from
 * its root without other processes, and a real child that burns CPU (and starts a grandchild that burns more)
 * counted while it runs and after it has been reaped, and nothing more than that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseProcStat, treeCpuSeconds, treeTicks, type ProcStat } from '../../src/demo/cpu-time.ts';

// A real line of a node worker, with a command name that holds spaces and parentheses.
const LINE = '4242 (node (tsx) w 1) S 4000 4000 3900 34816 4000 4194304 19562 1280 0 3 871 95 12 7 20 0 11 0 6520114 1273012224 23004 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

test('a /proc/PID/stat line: pid, command, parent and the four times, read from the last parenthesis', () => {
  assert.deepEqual(parseProcStat(LINE), { pid: 4242, comm: 'node (tsx) w 1', state: 'S', ppid: 4000, utime: 871, stime: 95, cutime: 12, cstime: 7 });
  assert.throws(() => parseProcStat('4242 node S 1 2 3'), /no \(comm\)/);
  assert.throws(() => parseProcStat('4242 (node) S 1 2 3'), /fields, at least 17 expected/);
  assert.throws(() => parseProcStat(LINE.replace(' 871 ', ' x ')), /utime is not a count of ticks/);
  assert.throws(() => parseProcStat(LINE.replace('4242 ', ' ')), /no pid/);
});

const stat = (pid: number, ppid: number, utime: number, stime: number, cutime = 0, cstime = 0): ProcStat => ({ pid, comm: `p${pid}`, state: 'S', ppid, utime, stime, cutime, cstime });

test('a tree: the root with its reaped children, every live descendant, and no other process', () => {
  const stats = [
    stat(1, 0, 5000, 5000, 900000, 90000), // init: the whole machine's reaped time, not ours
    stat(10, 1, 100, 20, 300, 30), // the root: 120 own, 330 of reaped children
    stat(11, 10, 40, 4), // a live worker
    stat(12, 11, 7, 1, 50, 5), // its live child, with a reaped child of its own
    stat(13, 12, 2, 0), // a live grandchild's child
    stat(20, 1, 777, 77), // a sibling of the root: not ours
    stat(21, 20, 66, 6), // and its child
  ];
  assert.deepEqual(treeTicks(stats, 10), { self: 120, reaped: 330, live: 44 + 63 + 2, total: 120 + 330 + 109, descendants: 3 });
  assert.deepEqual(treeTicks(stats, 20), { self: 854, reaped: 0, live: 72, total: 926, descendants: 1 });
  assert.throws(() => treeTicks(stats, 99), /process 99 is not among/);
});

// The child burns CPU itself and in a grandchild it waits for, prints both amounts, then waits for its stdin to close.
const BURN = 'const b = (ms) => { const t = process.cpuUsage(); for (;;) { const u = process.cpuUsage(t); if (u.user + u.system >= ms * 1e3) return; } };';
const CHILD = `${BURN}
const { spawnSync } = require('node:child_process');
const g = spawnSync(process.execPath, ['-e', ${JSON.stringify(`${BURN} b(300); const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1e6));`)}], { encoding: 'utf8' });
b(300);
const u = process.cpuUsage();
process.stdout.write(JSON.stringify({ self: (u.user + u.system) / 1e6, grandchild: Number(g.stdout) }) + '\\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));`;

test('a child that burns CPU (and a grandchild it reaped) is counted while it runs and once reaped, and nothing else', { skip: !existsSync('/proc/self/stat') && 'no /proc on this system' }, async () => {
  const own0 = process.cpuUsage();
  const a = treeCpuSeconds();
  assert.ok(a, 'the tree can be sampled');
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const reported = await new Promise<{ self: number; grandchild: number }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    child.on('error', reject);
  });
  const burned = reported.self + reported.grandchild;
  assert.ok(reported.grandchild >= 0.3 && reported.self >= 0.3, JSON.stringify(reported));
  const tol = 0.05; // clock ticks (10 ms) rounded in each of the processes
  const live = treeCpuSeconds()!;
  assert.ok(live.descendants >= 1, 'the running child is a live descendant');
  assert.ok(live.seconds - a.seconds >= burned - tol, `while it runs: ${live.seconds - a.seconds} s counted, ${burned} s burned`);
  child.stdin.end();
  assert.equal(await closed, 0);
  const done = treeCpuSeconds()!;
  const own = process.cpuUsage(own0);
  const counted = done.seconds - a.seconds;
  assert.ok(counted >= burned - tol, `once reaped: ${counted} s counted, ${burned} s burned`);
  // No more than the child, its grandchild and this process itself used (plus the child's last moments): the
  // other processes of the machine are not in it.
  const upper = burned + (own.user + own.system) / 1e6 + 0.2;
  assert.ok(counted <= upper, `once reaped: ${counted} s counted, at most ${upper} s expected`);
});
