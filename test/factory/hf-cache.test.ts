import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfCacheMaxBytes, listHfCache, planHfCachePrune, pruneHfCache, touchHfCacheEntry, type HfCacheEntry } from '../../src/factory/hf-cache.ts';

const entry = (path: string, bytes: number, usedAt: number, extra: Partial<HfCacheEntry> = {}): HfCacheEntry => ({ path, bytes, usedAt, partial: false, ...extra });
const HOUR = 3600_000;

test('hf-cache plan: least recently used out until under the limit; kept entries stay even over it', () => {
  const es = [entry('/c/a', 40, 1), entry('/c/b', 40, 3), entry('/c/c', 40, 2)];
  const p = planHfCachePrune(es, { maxBytes: 80, keep: new Set(), alive: () => false, now: 10 * HOUR });
  assert.deepEqual(p.remove.map((e) => e.path), ['/c/a']);
  assert.equal(p.keptBytes, 80);
  // the oldest is in use by a job: the next oldest goes instead
  const q = planHfCachePrune(es, { maxBytes: 80, keep: new Set(['/c/a']), alive: () => false, now: 10 * HOUR });
  assert.deepEqual(q.remove.map((e) => e.path), ['/c/c']);
  // everything kept: nothing removed, and the total says the cache is over its limit
  const r = planHfCachePrune(es, { maxBytes: 0, keep: new Set(['/c/a', '/c/b', '/c/c']), alive: () => false, now: 10 * HOUR });
  assert.deepEqual(r.remove, []);
  assert.equal(r.keptBytes, 120);
  assert.deepEqual(planHfCachePrune(es, { maxBytes: 1000, keep: new Set(), alive: () => false, now: 10 * HOUR }).remove, []);
});

test('hf-cache plan: a half-written export goes once its writer is gone and an hour has passed', () => {
  const part = (pid: number, usedAt: number) => entry(`/c/x.tmp-${pid}`, 5, usedAt, { partial: true, pid });
  const es = [part(1, 0), part(2, 0), part(3, 9.5 * HOUR)];
  const p = planHfCachePrune(es, { maxBytes: 1000, keep: new Set(), alive: (pid) => pid === 2, now: 10 * HOUR });
  assert.deepEqual(p.remove.map((e) => e.path), ['/c/x.tmp-1']);
});

test('hf-cache on disk: list, touch and prune a data folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-hfcache-'));
  try {
    const root = join(dir, 'hf-cache');
    const make = (name: string, bytes: number, usedAt: Date) => {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, 'model.safetensors'), Buffer.alloc(bytes));
      touchHfCacheEntry(join(root, name), usedAt);
    };
    make('old', 3000, new Date(Date.now() - 3 * HOUR));
    make('new', 2000, new Date());
    make('dead.tmp-999999999', 100, new Date(Date.now() - 2 * HOUR));
    utimesSync(join(root, 'dead.tmp-999999999'), new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    const listed = listHfCache(dir);
    assert.deepEqual(listed.map((e) => [e.path.slice(root.length + 1), e.partial]), [['dead.tmp-999999999', true], ['new', false], ['old', false]]);
    assert.ok(listed.find((e) => e.path.endsWith('old'))!.bytes >= 3000);
    const p = pruneHfCache(dir, { maxBytes: 2500, keep: [] });
    assert.deepEqual(p.remove.map((e) => e.path.slice(root.length + 1)).sort(), ['dead.tmp-999999999', 'old']);
    assert.ok(!existsSync(join(root, 'old')) && existsSync(join(root, 'new')));
    assert.deepEqual(pruneHfCache(join(dir, 'nothing-here'), { maxBytes: 0, keep: [] }).remove, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hf-cache limit: MODELFAB_HF_CACHE_MAX_GB, checked', () => {
  assert.equal(hfCacheMaxBytes({}), 40 * 2 ** 30);
  assert.equal(hfCacheMaxBytes({ MODELFAB_HF_CACHE_MAX_GB: '0.5' }), 2 ** 29);
  assert.throws(() => hfCacheMaxBytes({ MODELFAB_HF_CACHE_MAX_GB: 'lots' }), /MODELFAB_HF_CACHE_MAX_GB=lots/);
});
