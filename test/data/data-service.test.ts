// The dataset registry over a real store: dataset_info.json imported whole, versions, split, dedup, all-or-nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataService, folderResolver } from '../../src/data/data-service.ts';
import { DatasetValidationError } from '../../src/data/problems.ts';
import { LocalArtifactStore } from '../../src/store/artifacts.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { recordsToExamples } from '../../src/data/records-to-examples.ts';
import { trainBpe, CHATML_SPECIAL_TOKENS } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { writeDemoDatasets } from '../../src/demo/demo-datasets.ts';
import { SHARED_DATA, needsShared } from '../shared-data.ts';

const SHARED = SHARED_DATA + '/';
const LLAMAFACTORY = ['dataset_info.json', 'identity.json', 'alpaca_en_demo.json', 'alpaca_zh_demo.json', 'glaive_toolcall_en_demo.json', 'glaive_toolcall_zh_demo.json', 'dpo_en_demo.json', 'dpo_zh_demo.json', 'kto_en_demo.json', 'c4_demo.jsonl'].map((f) => `llamafactory/${f}`);

async function service() {
  const dir = mkdtempSync(join(tmpdir(), 'mf-data-'));
  const store = await openSqliteStore(join(dir, 'modelfab.db'));
  const svc = new DataService(store, new LocalArtifactStore(dir));
  return { svc, dir, close: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('LLaMA-Factory dataset_info.json imports as a whole with the right counts', needsShared(...LLAMAFACTORY), async () => {
  const { svc, close } = await service();
  try {
    const infoPath = `${SHARED}llamafactory/dataset_info.json`;
    const { readFileSync } = await import('node:fs');
    const info = JSON.parse(readFileSync(infoPath, 'utf8'));
    const r = await svc.importDatasetInfo({ info, resolve: folderResolver(infoPath), placeholders: { name: 'Sprucy', author: 'Spruce Robotics' } });
    const counts = Object.fromEntries(r.data.map((d) => [d.name, d.rows]));
    assert.deepEqual(counts, {
      identity: 91, alpaca_en_demo: 999, alpaca_zh_demo: 1000, glaive_toolcall_en_demo: 300, glaive_toolcall_zh_demo: 300,
      dpo_en_demo: 300, dpo_zh_demo: 300, kto_en_demo: 300, c4_demo: 300,
    });
    assert.ok(r.skipped.some((s) => s.name === 'mllm_demo'));
    assert.ok(r.skipped.some((s) => s.name === 'alpaca_en' && /hub dataset/.test(s.reason)));
    const zh = await svc.getDataset('alpaca_zh_demo');
    assert.equal(zh.version!.stats.languages.zh > 900, true);
    const c4 = await svc.getDataset('c4_demo');
    assert.equal(c4.stage, 'pretrain');
    // a preview through each template
    for (const t of ['chatml', 'qwen2', 'llama3', 'mistral']) {
      const p = await svc.preview('identity', { n: 3, template: t });
      assert.equal(p.data.length, 3);
      assert.ok(!p.data[1].text.includes('{{name}}'));
    }
    const dpo = await svc.preview('dpo_zh_demo', { n: 1 });
    assert.ok(dpo.data[0].chosen_text!.endsWith('<|im_end|>\n'));
  } finally {
    await close();
  }
});

test('the demo datasets import through their own dataset_info.json', async () => {
  const { svc, dir, close } = await service();
  try {
    const demo = join(dir, 'demo');
    const w = writeDemoDatasets(demo);
    const { readFileSync } = await import('node:fs');
    const r = await svc.importDatasetInfo({ info: JSON.parse(readFileSync(join(demo, 'dataset_info.json'), 'utf8')), resolve: folderResolver(join(demo, 'dataset_info.json')) });
    const by = Object.fromEntries(r.data.map((d) => [d.name, d]));
    assert.equal(by.support_qa.rows, w.counts.support_qa_train);
    assert.equal(by.preferences.stage, 'preference');
    assert.equal(by.preferences.rows, w.counts.preferences_train);
  } finally {
    await close();
  }
});

test('all-or-nothing: one bad entry stores nothing; problems of every file are listed', async () => {
  const { svc, dir, close } = await service();
  try {
    writeFileSync(join(dir, 'good.json'), JSON.stringify([{ instruction: 'q', output: 'a' }]));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ instruction: 'q' }, { instruction: 1, output: 'a' }]));
    writeFileSync(join(dir, 'bad2.jsonl'), '{"messages": []}\n');
    const info = { good: { file_name: 'good.json' }, bad: { file_name: 'bad.json' }, bad2: { file_name: 'bad2.jsonl', formatting: 'sharegpt' as const } };
    await assert.rejects(svc.importDatasetInfo({ info, resolve: folderResolver(join(dir, 'x.json')) }), (e: unknown) => {
      assert.ok(e instanceof DatasetValidationError);
      assert.deepEqual(e.problems.map((p) => `${p.file}:${p.path}`), ['bad.json:$[0].output', 'bad.json:$[1].instruction', 'bad2.jsonl:$[0]'.replace('$[0]', 'conversations')]);
      return true;
    });
    assert.deepEqual(await svc.listDatasets(), []);
    assert.deepEqual(await svc.artifacts.list('datasets'), []);
  } finally {
    await close();
  }
});

test('versions by content hash, seeded split, dedup, delete, records to engine examples', async () => {
  const { svc, dir, close } = await service();
  try {
    const rows = Array.from({ length: 40 }, (_, i) => ({ messages: [{ role: 'user', content: `question number ${i % 30}` }, { role: 'assistant', content: `answer ${i % 30}` }] }));
    writeFileSync(join(dir, 'a.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    const v1 = await svc.importDataset({ name: 'qa', source: { path: join(dir, 'a.jsonl') }, validationSplit: 0.25, seed: 7, dedup: 'exact' });
    assert.equal(v1.rows, 30);
    assert.equal(v1.version!.validation_rows, 8);
    assert.deepEqual(v1.version!.source.duplicates_removed, { exact: 10, near: 0 });
    const same = await svc.importDataset({ name: 'qa', source: { path: join(dir, 'a.jsonl') }, validationSplit: 0.25, seed: 7, dedup: 'exact' });
    assert.equal(same.version!.id, v1.version!.id);
    const long = 'The AMR-300 carries up to 300 kg, runs about 10 hours per charge and has a two-year warranty covering parts and labour. ';
    const near = [...rows, { messages: [{ role: 'user', content: long.repeat(3) }, { role: 'assistant', content: 'ok' }] },
      { messages: [{ role: 'user', content: long.repeat(3).replace('10 hours', '11 hours') }, { role: 'assistant', content: 'ok' }] }];
    writeFileSync(join(dir, 'b.jsonl'), near.map((r) => JSON.stringify(r)).join('\n'));
    const v2 = await svc.importDataset({ name: 'qa', source: { path: join(dir, 'b.jsonl') }, validationSplit: 0.25, seed: 8, dedup: 'near' });
    assert.notEqual(v2.version!.hash, v1.version!.hash);
    assert.deepEqual(v2.version!.source.duplicates_removed, { exact: 10, near: 1 });
    assert.equal((await svc.getDataset('qa', { versions: true })).versions!.length, 2);
    const tok = trainBpe(['question answer number 1 2 3'], { vocabSize: 300, specialTokens: [...CHATML_SPECIAL_TOKENS] });
    const { stage, records } = await svc.records('qa');
    const ex = recordsToExamples(stage, records, { tokenizer: tok, seqLen: 2048 });
    assert.equal(ex.length, records.length);
    const stats = await svc.statsWith('qa', tok, 'test-bpe');
    assert.equal(stats.tokenizer, 'test-bpe');
    await svc.deleteDataset('qa');
    assert.deepEqual(await svc.artifacts.list('datasets'), []);
  } finally {
    await close();
  }
});
