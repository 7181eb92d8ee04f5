/**
 * `modelfab writer` and `modelfab coach` against a running server with scripted models (an OpenAI-compatible test
 * server): a filled template's field errors, a document written section by section with citations and saved as DOCX,
 * a practice session in the terminal (lines from a pipe, /finish) with its judgement, and the progress report.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, ADMIN_KEY } from '../api/helpers.ts';
import { startScripted, type Scripted, type ScriptedRequest } from '../api/scripted-upstream.ts';
import { zipEntries } from '../writer/zip-entries.ts';
import { cli } from './helpers.ts';

let up: Scripted, url: string, dir: string, stop: () => Promise<void>;
let env: Record<string, string>;

function chat(b: ScriptedRequest): string {
  const sys = b.messages[0]!.content;
  const u = b.messages.filter((m) => m.role === 'user').at(-1)!.content;
  const section = /Now write section (\d+), "([^"]+)"/.exec(u);
  if (section) return `${section[2]} text [${/^\[(\d+)\] /m.exec(u)?.[1] ?? 0}].`;
  if (sys.includes('Magic Writer')) return 'The Aria chair: soft and strong.';
  if (sys.includes('Stay in character')) return 'Hmm. And then?';
  const criteria = ['empathy', 'accuracy', 'policy', 'resolution'];
  const scores = criteria.map((c) => ({ criterion: c, score: 4, quote: '', comment: `${c} fine` }));
  if (sys.includes("Score only the trainee's last message")) return JSON.stringify({ scores, tip: 'Name a time.' });
  return JSON.stringify({ scores, goals: [1, 2, 3].map((g) => ({ goal: g, met: g !== 2, quote: '' })), summary: 'Solid.' });
}

before(async () => {
  up = await startScripted({ chat });
  ({ url, dir, stop } = await startServer());
  const call = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, await r.text());
  };
  await call('/v1/serve/models', { name: 'writer-model', kind: 'endpoint', endpoint: { url: up.url, model: 'writer-model' } });
  await call('/v1/knowledge/bases', { id: 'handbook', name: 'Store handbook' });
  await call('/v1/knowledge/bases/handbook/documents', { filename: 'handbook.md', text: '# Store handbook\n\n## Returns\n\nUnused goods may be returned within thirty days.\n' });
  env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
});

after(async () => {
  await stop();
  await up.close();
});

test('modelfab writer: a form with a missing field, a cited document saved as DOCX', { timeout: 60_000 }, async () => {
  const c = await cli(['writer', 'compose', 'product-description', '--model', 'writer-model', '--field', 'product=Aria chair', '--tone', 'friendly'], env);
  assert.equal(c.code, 1, c.out);
  assert.match(c.out, /400: Invalid fields: fields\.features is required/);
  assert.match(c.out, /\n {2}request fields\.features: is required \(Key features \(one a line\)\)/, 'each problem on its own line');
  const out = join(dir, 'returns.docx');
  const w = await cli(['writer', 'write', 'Returns', '--model', 'writer-model', '--section', 'Policy', '--section', 'Steps', '--knowledge', 'handbook', '--out', out], env);
  assert.equal(w.code, 0, w.out);
  assert.match(w.out, /\[1\] Policy \(\d passages?\) … \d+ characters, cites \[1\]\n {2}\[2\] Steps/);
  assert.match(w.out, /saved to .*returns\.docx/);
  assert.ok(zipEntries(readFileSync(out)).get('word/document.xml')!.toString('utf8').includes('Policy text [1].'));
});

test('modelfab coach: practice in the terminal, the judgement, the report', { timeout: 60_000 }, async () => {
  const p = await cli(['coach', 'practice', 'upset-customer', '--model', 'writer-model'], env, { input: "I'm sorry about the chairs.\n/finish\n" });
  assert.equal(p.code, 0, p.out);
  assert.match(p.out, /Dana Wright: This is the third time I'm calling/);
  assert.match(p.out, /empathy\s+4\/5 {2}empathy fine\n[\s\S]*tip: Name a time\.\n\nDana Wright: Hmm\. And then\?/);
  assert.match(p.out, /score 75\/100[\s\S]*goal 2 not met[\s\S]*Solid\./);
  const r = await cli(['coach', 'report'], env);
  assert.match(r.out, /upset-customer\s+75 {2}goals 2\/3\n\nEmpathy\s+first 4 {2}last 4 {2}best 4 {2}mean 4/);
});
