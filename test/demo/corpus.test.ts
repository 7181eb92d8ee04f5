/**
 * Tests for the demo's texts and datasets: the hand-written corpus (size, language mix, variety),
 * the generator (deterministic per seed, consistent with the fact table), the fine-tuning datasets
 * (shapes, short answers, disjoint train/validation questions) and the files writeDemoDatasets writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cjkShare, generateDemoText, loadDemoCorpus } from '../../src/demo/corpus.ts';
import { MAX_ANSWER, hrPolicyQA, identity, preferences, supportQA, writeDemoDatasets, type ChatMessage } from '../../src/demo/demo-datasets.ts';
import { COMPANY, PRODUCTS, annualLeaveDays, expenseApprover, hotelCapCny, TRAVEL_CITIES, APPROVER_NAMES, type Product } from '../../src/demo/facts.ts';

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

// ---------------------------------------------------------------------------------------------
// Fact checks shared by the hand-written and generated text

const num = (s: string) => Number(s.replace(/,/g, ''));

function productsIn(line: string): Product[] {
  return PRODUCTS.filter((p) => new RegExp(`(^|[^A-Za-z0-9])${p.code}(?![0-9])`).test(line));
}

/**
 * Problems in `text` where a line that names exactly one product states a price, payload, top speed,
 * warranty or nickname that is not that product's.
 */
function factProblems(text: string): string[] {
  const problems: string[] = [];
  for (const line of text.split('\n')) {
    const ps = productsIn(line);
    if (ps.length !== 1) continue;
    const p = ps[0];
    const bad = (what: string) => problems.push(`${p.code} ${what}: ${line}`);
    for (const m of line.matchAll(/(售价|单价|标价|list price|unit price|priced at)[^¥$\d\n]{0,30}([¥$])([\d,]+)/g)) {
      const want = m[2] === '¥' ? p.priceCny : p.priceUsd;
      if (num(m[3]) !== want) bad(`price ${m[2]}${m[3]}`);
    }
    for (const m of line.matchAll(/(额定载重|payload|carries up to)[^\d\n]{0,12}([\d,]+) kg/g)) if (num(m[2]) !== p.payloadKg) bad(`payload ${m[2]}`);
    for (const m of line.matchAll(/(最高速度|top speed)[^\d\n]{0,12}([\d.]+) m\/s/g)) if (Number(m[2]) !== p.speedMs) bad(`speed ${m[2]}`);
    for (const m of line.matchAll(/(\d+)-year warranty/g)) if (Number(m[1]) !== p.warrantyYears) bad(`warranty ${m[1]}`);
    for (const m of line.matchAll(/保修期?(?:为|是)?\s*(\d+) 年/g)) if (Number(m[1]) !== p.warrantyYears) bad(`warranty ${m[1]}`);
    for (const q of PRODUCTS) {
      if (q === p) continue;
      if (line.includes(`“${q.nicknameZh}”`) || line.includes(`（${q.nicknameZh}）`) || new RegExp(`\\b(the|"|\\()${q.nicknameEn}\\b`).test(line)) bad(`nickname of ${q.code}`);
    }
  }
  return problems;
}

/** Arithmetic in generated papers: line subtotals, document totals, leave entitlement, approvers, hotel caps. */
function arithmeticProblems(text: string): string[] {
  const problems: string[] = [];
  let open = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (/^## (订单确认|Order confirmation|报价单|Quotation)/.test(line)) { open = true; sum = 0; continue; }
    const item = line.match(/× (\d+)[，,] (?:单价|unit price) ¥([\d,]+)[，,] (?:小计|subtotal) ¥([\d,]+)/);
    if (item && num(item[1]) * num(item[2]) !== num(item[3])) problems.push(`subtotal: ${line}`);
    const sub = line.match(/(?:小计|subtotal) ¥([\d,]+)/);
    if (open && sub) sum += num(sub[1]);
    const total = line.match(/^(?:合计|Total)(?:：|: )¥([\d,]+)/);
    if (open && total) {
      if (num(total[1]) !== sum) problems.push(`total ${total[1]} != ${sum}`);
      open = false;
    }
    const leaveZh = line.match(/工龄：满 (\d+) 年｜年假额度：(\d+) 天/);
    if (leaveZh && annualLeaveDays(Number(leaveZh[1])) !== Number(leaveZh[2])) problems.push(`leave: ${line}`);
    const leaveEn = line.match(/Service: (\d+) full years? \| Entitlement: (\d+) days/);
    if (leaveEn && annualLeaveDays(Number(leaveEn[1])) !== Number(leaveEn[2])) problems.push(`leave: ${line}`);
    const apprZh = line.match(/^合计：¥([\d,]+)，审批人：(.+)。$/);
    if (apprZh && APPROVER_NAMES[expenseApprover(num(apprZh[1]))].zh !== apprZh[2]) problems.push(`approver: ${line}`);
    const apprEn = line.match(/^Total: ¥([\d,]+); approver: (.+)\.$/);
    if (apprEn && APPROVER_NAMES[expenseApprover(num(apprEn[1]))].en !== apprEn[2]) problems.push(`approver: ${line}`);
    const capZh = line.match(/，(\S+?)的上限为每晚 ¥([\d,]+)/);
    if (capZh && hotelCapCny(capZh[1]) !== num(capZh[2])) problems.push(`hotel cap: ${line}`);
    const capEn = line.match(/the cap for (.+?) is ¥([\d,]+) a night/);
    if (capEn && hotelCapCny(capEn[1]) !== num(capEn[2])) problems.push(`hotel cap: ${line}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Hand-written corpus

test('hand-written corpus: 150-250 KB, about 60% Chinese by bytes, both languages well represented', () => {
  const docs = loadDemoCorpus();
  const zh = docs.filter((d) => d.lang === 'zh');
  const en = docs.filter((d) => d.lang === 'en');
  assert.ok(zh.length >= 10 && en.length >= 10, `zh ${zh.length} / en ${en.length} files`);
  const zhBytes = zh.reduce((s, d) => s + utf8Bytes(d.text), 0);
  const enBytes = en.reduce((s, d) => s + utf8Bytes(d.text), 0);
  const total = zhBytes + enBytes;
  assert.ok(total >= 150_000 && total <= 260_000, `total ${total} bytes`);
  const share = zhBytes / total;
  assert.ok(share >= 0.5 && share <= 0.7, `zh byte share ${share.toFixed(2)}`);
  for (const d of docs) {
    assert.ok(utf8Bytes(d.text) >= 2500, `${d.name} is short`);
    assert.ok(/^# /.test(d.text), `${d.name} starts with a title`);
    if (d.lang === 'zh') assert.ok(cjkShare(d.text) > 0.6, `${d.name} reads as Chinese`);
    else assert.ok(cjkShare(d.text) < 0.05, `${d.name} reads as English`);
  }
});

test('hand-written corpus: varied prose, not repeated lines', () => {
  const lines = loadDemoCorpus().flatMap((d) => d.text.split('\n')).map((l) => l.trim()).filter((l) => l.length > 30);
  const distinct = new Set(lines).size;
  assert.ok(lines.length > 800, `${lines.length} substantial lines`);
  assert.ok(distinct / lines.length > 0.97, `distinct ratio ${(distinct / lines.length).toFixed(3)}`);
});

test('hand-written corpus agrees with the fact table', () => {
  const text = loadDemoCorpus().map((d) => d.text).join('\n');
  assert.deepEqual(factProblems(text), []);
  for (const p of PRODUCTS) {
    assert.ok(text.includes(p.code) && text.includes(p.nicknameZh) && text.includes(p.nicknameEn), p.code);
    assert.ok(text.includes(`¥${p.priceCny.toLocaleString('en-US')}`), `${p.code} price appears`);
  }
  assert.ok(text.includes(COMPANY.hotline) && text.includes(COMPANY.supportEmail));
});

// ---------------------------------------------------------------------------------------------
// Generator

test('generateDemoText: deterministic per seed, different across seeds, about the asked length', () => {
  const a = generateDemoText(1, 30_000);
  assert.equal(a, generateDemoText(1, 30_000));
  const b = generateDemoText(2, 30_000);
  assert.notEqual(a, b);
  assert.ok(a.length >= 30_000 && a.length < 33_000, `length ${a.length}`);
  assert.ok(generateDemoText(3, 500).length >= 500);
  assert.equal(generateDemoText(4, 0), '\n');
});

test('generateDemoText: mixes Chinese (~60%) and English, with varied documents', () => {
  const t = generateDemoText(11, 200_000);
  const lines = t.split('\n').filter((l) => l.trim().length > 0);
  const zhLines = lines.filter((l) => cjkShare(l) > 0.3).length;
  const share = zhLines / lines.length;
  assert.ok(share > 0.45 && share < 0.75, `zh line share ${share.toFixed(2)}`);
  const distinct = new Set(lines).size;
  assert.ok(distinct / lines.length > 0.4, `distinct line ratio ${(distinct / lines.length).toFixed(2)}`);
  for (const marker of ['订单确认', 'Order confirmation', '维护记录', 'Maintenance log', '工单 SR-', 'Ticket SR-', '年假申请', 'Travel expense claim', '纪要', 'minutes']) {
    assert.ok(t.includes(marker), `has ${marker}`);
  }
});

test('generateDemoText: every price, payload, speed, warranty and sum agrees with the fact table', () => {
  for (const seed of [0, 5, 99]) {
    const t = generateDemoText(seed, 150_000);
    assert.deepEqual(factProblems(t), [], `seed ${seed}`);
    assert.deepEqual(arithmeticProblems(t), [], `seed ${seed}`);
  }
  // The checker does catch a wrong price.
  assert.equal(factProblems('T100 的售价为 ¥99,000。').length, 1);
  assert.equal(factProblems('The L300 list price is ¥98,000.').length, 0);
});

// ---------------------------------------------------------------------------------------------
// Datasets

function isChat(msgs: ChatMessage[]): boolean {
  return Array.isArray(msgs) && msgs.every((m) => ['system', 'user', 'assistant'].includes(m.role) && typeof m.content === 'string' && m.content.trim().length > 0);
}

function shortEnough(answer: string): boolean {
  return cjkShare(answer) > 0.3 ? [...answer].length <= MAX_ANSWER.zhChars : answer.split(/\s+/).length <= MAX_ANSWER.enWords;
}

function disjoint(train: string[], val: string[]): string[] {
  const s = new Set(train);
  return val.filter((v) => s.has(v));
}

test('supportQA: chat records, several hundred, short factual answers, disjoint validation questions', () => {
  const { train, val } = supportQA(0);
  assert.ok(train.length >= 300 && val.length >= 60, `${train.length}/${val.length}`);
  for (const r of [...train, ...val]) {
    assert.ok(isChat(r.messages));
    assert.deepEqual(r.messages.map((m) => m.role), ['user', 'assistant']);
    assert.ok(shortEnough(r.messages[1].content), r.messages[1].content);
  }
  const q = (rs: typeof train) => rs.map((r) => r.messages[0].content);
  assert.deepEqual(disjoint(q(train), q(val)), []);
  const zh = train.filter((r) => cjkShare(r.messages[0].content) > 0.3).length;
  assert.ok(zh / train.length > 0.35 && zh / train.length < 0.65, 'both languages');
  assert.deepEqual(factProblems(train.map((r) => r.messages[1].content).join('\n')), []);
  assert.deepEqual(supportQA(0), supportQA(0));
  assert.notDeepEqual(supportQA(0).val, supportQA(1).val);
  // The T100 price answer is right.
  const price = train.find((r) => /T100/.test(r.messages[0].content) && /售价|多少钱|价格/.test(r.messages[0].content));
  assert.ok(price && price.messages[1].content.includes('¥68,000'));
});

test('hrPolicyQA: alpaca records, disjoint validation items, short answers', () => {
  const { train, val } = hrPolicyQA(0);
  assert.ok(train.length >= 200 && val.length >= 50, `${train.length}/${val.length}`);
  for (const r of [...train, ...val]) {
    assert.equal(typeof r.input, 'string');
    assert.ok(r.instruction.trim() && r.output.trim());
    assert.ok(shortEnough(r.output), r.output);
  }
  const key = (rs: typeof train) => rs.map((r) => `${r.instruction}\u0000${r.input}`);
  assert.deepEqual(disjoint(key(train), key(val)), []);
  const leave = [...train, ...val].filter((r) => /入职满 (\d+) 年/.test(r.input));
  assert.ok(leave.length > 0);
  for (const r of leave) assert.equal(r.output, `${annualLeaveDays(Number(r.input.match(/(\d+)/)![1]))} 天。`);
  for (const r of [...train, ...val].filter((x) => x.input.startsWith('business trip to '))) {
    const city = TRAVEL_CITIES.find((c) => r.input.endsWith(c.en))!;
    assert.equal(r.output, `¥${hotelCapCny(city.en).toLocaleString('en-US')} per night.`);
  }
});

test('identity: about 80 alpaca records naming the assistant, held-out instructions unseen', () => {
  const { train, val } = identity(0);
  assert.ok(train.length >= 70 && train.length <= 100, `${train.length}`);
  assert.ok(val.length > 0);
  assert.deepEqual(disjoint(train.map((r) => r.instruction), val.map((r) => r.instruction)), []);
  for (const r of [...train, ...val]) assert.ok(r.instruction && r.output && r.input === '');
  assert.ok(train.some((r) => r.output.includes(COMPANY.assistantNameZh)));
  assert.ok(train.some((r) => r.output.includes(COMPANY.assistantNameEn)));
});

test('preferences: OpenAI DPO records, preferred differs from non-preferred, disjoint prompts', () => {
  const { train, val } = preferences(0);
  assert.ok(train.length >= 200 && val.length >= 60, `${train.length}/${val.length}`);
  for (const r of [...train, ...val]) {
    assert.ok(isChat(r.input.messages));
    assert.equal(r.input.messages.at(-1)!.role, 'user');
    assert.equal(r.preferred_output.length, 1);
    assert.equal(r.non_preferred_output.length, 1);
    assert.equal(r.preferred_output[0].role, 'assistant');
    assert.equal(r.non_preferred_output[0].role, 'assistant');
    assert.notEqual(r.preferred_output[0].content, r.non_preferred_output[0].content);
    assert.ok(r.non_preferred_output[0].content.trim());
  }
  const prompt = (rs: typeof train) => rs.map((r) => r.input.messages.at(-1)!.content);
  assert.deepEqual(disjoint(prompt(train), prompt(val)), []);
  assert.deepEqual(factProblems(train.map((r) => r.preferred_output[0].content).join('\n')), []);
});

test('writeDemoDatasets: parseable files, dataset_info.json names files that exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelfab-demo-ds-'));
  try {
    const res = writeDemoDatasets(dir);
    for (const f of ['support_qa.train.jsonl', 'support_qa.val.jsonl', 'hr_policy.train.json', 'hr_policy.val.json', 'identity.json', 'preferences.jsonl', 'dataset_info.json']) {
      assert.ok(existsSync(join(dir, f)), f);
      assert.ok(res.files.includes(f), f);
    }
    const readJsonl = (f: string) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const readJson = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
    assert.equal(readJsonl('support_qa.train.jsonl').length, res.counts.support_qa_train);
    assert.equal(readJsonl('support_qa.val.jsonl').length, res.counts.support_qa_val);
    assert.equal(readJson('hr_policy.train.json').length, res.counts.hr_policy_train);
    assert.equal(readJson('hr_policy.val.json').length, res.counts.hr_policy_val);
    assert.equal(readJson('identity.json').length, res.counts.identity_train);
    assert.equal(readJsonl('preferences.jsonl').length, res.counts.preferences_train);
    assert.ok(Array.isArray(readJsonl('support_qa.train.jsonl')[0].messages));
    const info = readJson('dataset_info.json') as Record<string, { file_name: string; formatting?: string; columns?: Record<string, string>; ranking?: boolean }>;
    for (const k of ['support_qa', 'hr_policy', 'identity', 'preferences']) assert.ok(info[k], k);
    for (const [k, v] of Object.entries(info)) assert.ok(existsSync(join(dir, v.file_name)), `${k}: ${v.file_name}`);
    assert.equal(info.support_qa.file_name, 'support_qa.train.jsonl');
    assert.equal(info.support_qa.formatting, 'sharegpt');
    assert.equal(info.support_qa.columns!.messages, 'messages');
    assert.equal(info.hr_policy.file_name, 'hr_policy.train.json');
    assert.equal(info.preferences.ranking, true);
    // Same seed, same bytes.
    const dir2 = mkdtempSync(join(tmpdir(), 'modelfab-demo-ds-'));
    try {
      writeDemoDatasets(dir2);
      for (const f of res.files) assert.equal(readFileSync(join(dir, f), 'utf8'), readFileSync(join(dir2, f), 'utf8'), f);
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
