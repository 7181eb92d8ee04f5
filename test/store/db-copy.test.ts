/**
 * `modelfab db copy`: a data folder's SQLite database (rows in the Store's tables, written through the real
 * repositories) copied into an empty PostgreSQL schema by the command; every table's count and
 * checksum agree, the rows read back through the repositories on PostgreSQL are the same, a second copy into the
 * now-used database is refused before it writes, and the checksum sees one changed value and no order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open-database.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { LocalArtifactStore } from '../../src/store/artifacts.ts';
import { COPY_TABLES, tableChecksum } from '../../src/store/db-copy.ts';
import { kyselyJobRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { RequestLog, type RequestLogTables } from '../../src/control/request-log.ts';
import { TableKnowledgeRepository, type KnowledgeTables } from '../../src/knowledge/knowledge-tables.ts';
import { TableBotRepository, type BotTables } from '../../src/bots/bot-tables.ts';
import { specFor } from '../factory/repository-suite.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { dbCopy } from '../../src/cli/db-commands.ts';
import { freshPostgres, noPostgres } from './test-databases.ts';

/** Runs `modelfab ...args` in this process for a command that fails before printing: its error message. */
async function failure(args: string[]): Promise<string> {
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'modelfab', ...args]);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error(`modelfab ${args.join(' ')} succeeded`);
}

test('tableChecksum: the same rows in any order agree; one changed value does not', () => {
  const rows = [{ id: 'a', n: 1, t: null }, { id: 'b', n: 2, t: 'x' }];
  assert.equal(tableChecksum(rows), tableChecksum([rows[1], { t: null, n: 1, id: 'a' }]));
  assert.notEqual(tableChecksum(rows), tableChecksum([rows[0], { ...rows[1], n: 3 }]));
  assert.notEqual(tableChecksum(rows), tableChecksum([rows[0]]));
});

test('db copy: a SQLite data folder into PostgreSQL, checked; a used target refused', { skip: noPostgres, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-copy-'));
  const pg = await freshPostgres();
  try {
    const { store, db } = await openDatabase(dir);
    await store.files.insert({ id: 'file-1', bytes: 5, created_at: 10, filename: '数据.jsonl', purpose: 'fine-tune', status: 'processed', status_details: null, sha256: 'x', meta: '{"rows":3}' });
    await store.datasets.insert({ id: 'ds-1', name: 'qa', stage: 'sft', format: 'openai-chat', created_at: 1, updated_at: 1, latest_version_id: 'dsv-1' });
    await store.datasetVersions.insert({ id: 'dsv-1', dataset_id: 'ds-1', content_hash: 'h', created_at: 1, stage: 'sft', format: 'openai-chat', train_rows: 3, validation_rows: 0, source: '{}', stats: '{}', train_key: 'datasets/h/train.jsonl', validation_key: null });
    await store.apiKeys.insert({ id: 'key-1', name: 'admin', hash: 'hh', prefix: 'sk-mf-abcd', role: 'admin', created_at: 1, last_used_at: null, revoked_at: null, token_quota: 2 ** 40 });
    await store.models.insert({ id: 'm1', name: 'tiny', kind: 'engine', path: join(dir, 'models', 'tiny'), base_path: null, adapter_path: null, endpoint: null, chat_template: 'chatml', owned_by: 'me', created_at: 3, meta: null });
    await store.usage.add({ key_id: 'key-1', model: 'tiny', day: 86400, requests: 2, errors: 0, prompt_tokens: 30, completion_tokens: 12 });
    const jobs = kyselyJobRepository(stageTables<FactoryTables>(db), Date.now, dir);
    await jobs.create({ id: 'ftjob-1', status: 'queued', priority: 0, experimentId: null, spec: specFor('ftjob-1', join(dir, 'jobs', 'ftjob-1')), estimate: { cpuThreads: 1, memoryMB: 64 } });
    await jobs.appendEvent({ jobId: 'ftjob-1', type: 'submitted', message: '已提交' });
    await new RequestLog(stageTables<RequestLogTables>(db)).recordResponse({ id: 'chatcmpl-1', prompt: [{ role: 'user', content: '你好' }], answer: 'hi', guard: [{ check: 'c', kind: 'keywords', stage: 'input', action: 'allow', triggered: false, reason: '', latency_ms: 0.123 }] });
    const kr = new TableKnowledgeRepository(stageTables<KnowledgeTables>(db), new LocalArtifactStore(dir));
    await kr.putKb({ id: 'kb1', name: '知识库', description: '', requireApproval: false, chunking: { maxChars: 400, overlap: 60, parentMaxChars: 1600 }, t2s: false, createdAt: 1, updatedAt: 1 });
    await kr.putLexicon('kb1', '保险人\n');
    await new TableBotRepository(stageTables<BotTables>(db)).appendApproval('bot1', { at: 1, by: 'carol', action: 'publish', version: 1 });
    await store.close();

    let out = '';
    await dbCopy({ from: dir, to: pg.url, json: true }, (text) => { out += text; });
    const report = JSON.parse(out) as { ok: boolean; to: string; tables: Array<{ table: string; rows: number; target_rows: number; ok: boolean }> };
    assert.equal(report.ok, true);
    assert.ok(!report.to.includes(':modelfab@'), 'the password is not printed');
    assert.deepEqual(report.tables.map((t) => t.table), COPY_TABLES.map((t) => t.table));
    const rows = Object.fromEntries(report.tables.map((t) => [t.table, t.rows]));
    assert.deepEqual([rows.files, rows.usage, rows.jobs, rows.job_events, rows.control_responses, rows.knowledge_bases, rows.bot_approvals], [1, 1, 1, 1, 1, 1, 1]);
    assert.ok(report.tables.every((t) => t.ok && t.rows === t.target_rows));

    // the rows through the repositories on PostgreSQL, paths resolved against the same folder
    const copied = await openDatabase(dir, pg.url);
    try {
      assert.equal((await copied.store.files.get('file-1'))!.filename, '数据.jsonl');
      assert.equal((await copied.store.apiKeys.get('key-1'))!.token_quota, 2 ** 40);
      assert.equal((await copied.store.models.getByName('tiny'))!.path, join(dir, 'models', 'tiny'));
      assert.equal(await copied.store.usage.totalTokens('key-1'), 42);
      const job = (await kyselyJobRepository(stageTables<FactoryTables>(copied.db), Date.now, dir).get('ftjob-1'))!;
      assert.equal(job.spec.outputDir, join(dir, 'jobs', 'ftjob-1'));
      assert.equal((await new RequestLog(stageTables<RequestLogTables>(copied.db)).getResponse('chatcmpl-1'))!.guard_ms, 0.123);
      assert.equal(await new TableKnowledgeRepository(stageTables<KnowledgeTables>(copied.db), new LocalArtifactStore(dir)).getLexicon('kb1'), '保险人\n');
    } finally { await copied.store.close(); }

    assert.match(await failure(['db', 'copy', '--from', dir, '--to', pg.url]), /already holds 1 rows in files/);
    assert.match(await failure(['db', 'copy', '--from', join(dir, 'nope'), '--to', pg.url]), /modelfab\.db does not exist/);
    assert.match(await failure(['db', 'copy', '--from', dir, '--to', 'mysql://u:p@h/db']), /only postgres:\/\//);
  } finally {
    await pg.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
