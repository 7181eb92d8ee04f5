// A bot's trained retriever: built with `retriever: true`, the version's matcher trains a dual encoder on the bot's
// units and approved pairs and fuses it with lexical matching; the setting is validated; the units' passages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { SHOP_STATUTE as STATUTE, tempService } from './temp-service.ts';
import { unitPassages } from '../../src/knowledge/retriever.ts';
import { TrainedRetriever } from '../../src/knowledge/retriever.ts';

const { dir, bots } = tempService('mf-bot-retriever-');
after(() => rmSync(dir, { recursive: true, force: true }));


test('a bot built with a retriever trains it for its version and answers with it fused in', async () => {
  const r = await bots.build({ name: 'shop', filename: 'shop-law.md', data: Buffer.from(STATUTE), approveAll: true, config: { retriever: true } });
  assert.equal(r.bot.config.retriever, true);
  const m = await bots.matcher('shop', r.version!.version);
  assert.ok(m.retriever instanceof TrainedRetriever);
  assert.equal((m.retriever as TrainedRetriever).meta.units, 5);
  assert.ok((m.retriever as TrainedRetriever).meta.questions >= 5);
  const units = unitPassages(m.kb);
  assert.equal(units.length, 5);
  assert.ok(units.every((u) => u.text.length > 10 && u.title.includes('第')));
  const a = await bots.answer('shop', '经营者欺诈要赔多少');
  assert.equal(a.citations[0]?.article, 4);
  // where no factory runs, this process trained it when the version's matcher was made
  assert.deepEqual(await bots.retrieverStatus('shop'), { trained_by: 'in-process', status: 'ready', version: 1, job_id: null, job_status: null, model: null, error: null });
  // without the setting there is no retriever, and the setting must be a boolean
  const plain = await bots.build({ name: 'plain', filename: 'shop-law.md', data: Buffer.from(STATUTE), approveAll: true });
  assert.equal((await bots.matcher('plain', plain.version!.version)).retriever, null);
  assert.equal(plain.bot.config.retriever, undefined);
  assert.equal(await bots.retrieverStatus('plain'), null);
  await assert.rejects(bots.updateBot('plain', { config: { retriever: 'yes' as unknown as boolean } }), /retriever must be true or false/);
});
