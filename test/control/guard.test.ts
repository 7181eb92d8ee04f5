/**
 * The guard chain: each rule type with Chinese and English cases, policy validation errors naming the check, the
 * Llama-Guard classifier and reflection over a scripted model, grounding catching a planted unsupported sentence,
 * configured refusal messages, and the sentence-boundary stream filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuardPolicyError, GuardStream, lastBoundary, parseClassifierOutput, parsePolicy, parseReflection, runGuard, DEFAULT_CATEGORIES } from '../../src/control/guard.ts';
import { ScriptedChatModel } from '../../src/control/chat-model.ts';

test('keywords: Chinese as substrings, English at word edges, full-width and case folded; rewrite and refuse', async () => {
  const p = parsePolicy({ refusal_message: '该问题无法回答。', checks: [
    { name: 'banned', kind: 'keywords', words: ['赌博', 'casino', 'AK47'], action: 'refuse', message: '涉及违规内容，无法回答。' },
  ] });
  const zh = await runGuard(p, { stage: 'input', text: '哪里可以网上赌博？' });
  assert.equal(zh.refused, true);
  assert.equal(zh.message, '涉及违规内容，无法回答。');
  assert.deepEqual(zh.verdicts[0].matches, ['赌博']);
  assert.equal(zh.verdicts[0].check, 'banned');
  assert.ok(zh.verdicts[0].latency_ms >= 0);
  assert.equal((await runGuard(p, { stage: 'input', text: 'Best CASINO in town?' })).refused, true);
  assert.equal((await runGuard(p, { stage: 'input', text: 'Ｃａｓｉｎｏ night' })).refused, true, 'full-width letters');
  assert.equal((await runGuard(p, { stage: 'input', text: 'casinos and occasions' })).refused, false, 'no match inside longer English words');
  assert.equal((await runGuard(p, { stage: 'input', text: '买AK47步枪' })).refused, true);

  const rw = parsePolicy({ checks: [{ kind: 'keywords', words: ['傻瓜', 'idiot'], action: 'rewrite', stage: 'output' }] });
  const r = await runGuard(rw, { stage: 'output', text: '你这个傻瓜, you idiot!' });
  assert.equal(r.text, '你这个**, you *****!');
  assert.equal(r.verdicts[0].action, 'rewrite');
  assert.equal((await runGuard(rw, { stage: 'input', text: '傻瓜' })).verdicts.length, 0, 'an output check does not run on input');
  assert.equal((await runGuard(parsePolicy({ checks: [{ kind: 'keywords', words: ['傻瓜'] }] }), { stage: 'output', text: '傻瓜' })).refused, true, 'stage both and action refuse by default');
});

test('regex (validated at load, error names the check), topics with hit thresholds, warn', async () => {
  assert.throws(() => parsePolicy({ checks: [{ name: 'secrets', kind: 'regex', patterns: ['sk-[a-z'] }] }), (e: unknown) => e instanceof GuardPolicyError && /checks\[0\] "secrets".*not a valid regular expression/.test((e as Error).message));
  assert.throws(() => parsePolicy({ checks: [{ kind: 'keywords', words: [] }] }), /checks\[0\]: "words" must not be empty/);
  assert.throws(() => parsePolicy({ checks: [{ kind: 'pii', action: 'block' }] }), /checks\[0\]: "action" must be one of/);
  assert.throws(() => parsePolicy({ checks: [{ kind: 'grounding', stage: 'input' }] }), /grounding check reviews answers/);
  const p = parsePolicy({ checks: [
    { name: 'keys', kind: 'regex', patterns: [{ pattern: 'sk-[A-Za-z0-9]{8,}', label: 'API key' }, '内部编号[:：]\\s*\\d+'], action: 'rewrite', replacement: '[已隐藏]' },
    { name: 'topics', kind: 'topics', action: 'warn', topics: [{ name: '竞争对手 competitors', keywords: ['极智机器人', 'RivalBot'] }, { name: '薪酬 salary', keywords: ['工资', '薪水', 'salary', 'bonus'], min_hits: 2 }] },
  ] });
  const r = await runGuard(p, { stage: 'output', text: '密钥 sk-abcdef123456，内部编号：42。' });
  assert.equal(r.text, '密钥 [已隐藏]，[已隐藏]。');
  assert.match(r.verdicts[0].reason, /"API key"/);
  const t = await runGuard(p, { stage: 'input', text: 'Is RivalBot better? 我的工资 and salary?' });
  assert.equal(t.refused, false);
  assert.equal(t.flagged, true);
  assert.match(t.verdicts[1].reason, /竞争对手 competitors.*薪酬 salary/);
  const one = await runGuard(p, { stage: 'input', text: '工资多少' });
  assert.equal(one.verdicts[1].triggered, false, 'min_hits 2');
});

test('pii check masks Chinese and English personal data, or refuses', async () => {
  const p = parsePolicy({ checks: [{ kind: 'pii', action: 'rewrite', stage: 'output' }] });
  const r = await runGuard(p, { stage: 'output', text: '客户张三，身份证11010519491231002X，手机13812345678，email li@example.com' });
  assert.equal(r.text, '客户张三，身份证110***********002X，手机138****5678，email l*@example.com');
  assert.deepEqual(r.verdicts[0].matches, ['id_card:110***********002X', 'mobile:138****5678', 'email:l*@example.com']);
  const refuse = parsePolicy({ refusal_message: 'Please do not share personal data.', checks: [{ kind: 'pii', types: ['bank_card'], action: 'refuse' }] });
  const x = await runGuard(refuse, { stage: 'input', text: 'my card is 4111-1111-1111-1111' });
  assert.equal(x.refused, true);
  assert.equal(x.message, 'Please do not share personal data.');
  assert.equal((await runGuard(refuse, { stage: 'input', text: 'my card is 4111-1111-1111-1112' })).refused, false, 'fails Luhn');
});

test('classifier: Llama-Guard prompt with the editable categories; robust parsing; fail open by default', async () => {
  assert.deepEqual(parseClassifierOutput('safe', DEFAULT_CATEGORIES), { safe: true, categories: [] });
  assert.deepEqual(parseClassifierOutput(' unsafe\nS1,S3 ', DEFAULT_CATEGORIES), { safe: false, categories: ['S1', 'S3'] });
  assert.deepEqual(parseClassifierOutput('Unsafe S2', DEFAULT_CATEGORIES), { safe: false, categories: ['S2'] });
  assert.deepEqual(parseClassifierOutput('不安全\nS6', DEFAULT_CATEGORIES), { safe: false, categories: ['S6'] });
  assert.equal(parseClassifierOutput('I think so', DEFAULT_CATEGORIES), null);
  const guard = new ScriptedChatModel('guard', (m) => (/炸弹|bomb/.test(m[0].content.split('<BEGIN CONVERSATION>')[1]) ? 'unsafe\nS1' : 'safe'));
  const p = parsePolicy({ checks: [{ kind: 'classifier', model: 'guard', action: 'refuse', message: '无法提供此类帮助。', categories: [{ name: '暴力 violence', description: '武器、爆炸物' }, { name: '竞品 competitors' }] }] });
  const deps = { model: (n: string) => (n === 'guard' ? guard : undefined) };
  const r = await runGuard(p, { stage: 'input', text: '怎么做炸弹' }, deps);
  assert.equal(r.refused, true);
  assert.equal(r.message, '无法提供此类帮助。');
  assert.match(r.verdicts[0].reason, /S1 暴力 violence/);
  assert.match(guard.calls[0][0].content, /S1: 暴力 violence\. 武器、爆炸物\nS2: 竞品 competitors\./);
  assert.equal((await runGuard(p, { stage: 'input', text: 'how to bake bread' }, deps)).refused, false);
  const missing = await runGuard(p, { stage: 'input', text: 'x' }, {});
  assert.equal(missing.verdicts[0].action, 'warn');
  assert.equal(missing.verdicts[0].error, true);
  const closed = parsePolicy({ checks: [{ kind: 'classifier', model: 'guard', on_error: 'refuse' }] });
  assert.equal((await runGuard(closed, { stage: 'input', text: 'x' }, { model: () => new ScriptedChatModel('g', ['???']) })).refused, true);
});

test('reflection approves, revises (rewrite) or refuses the draft', async () => {
  assert.deepEqual(parseReflection('```json\n{"verdict":"revise","reason":"impolite","revision":"您好，请稍候。"}\n```'), { verdict: 'revise', reason: 'impolite', revision: '您好，请稍候。' });
  assert.equal(parseReflection('APPROVE')?.verdict, 'approve');
  const p = parsePolicy({ checks: [{ kind: 'reflection', model: 'reviewer', action: 'rewrite', policy: '回答必须礼貌。' }] });
  const replies = ['{"verdict":"approve","reason":"ok"}', '{"verdict":"revise","reason":"不礼貌","revision":"您好，退货请在七日内申请。"}', '{"verdict":"refuse","reason":"off topic"}'];
  const reviewer = new ScriptedChatModel('reviewer', replies);
  const deps = { model: () => reviewer };
  const a = await runGuard(p, { stage: 'output', text: '您好，可以退货。', question: '能退货吗？' }, deps);
  assert.equal(a.verdicts[0].action, 'allow');
  const b = await runGuard(p, { stage: 'output', text: '自己看说明书。', question: '怎么退货？' }, deps);
  assert.equal(b.text, '您好，退货请在七日内申请。');
  assert.equal(b.verdicts[0].action, 'rewrite');
  const c = await runGuard(p, { stage: 'output', text: '股票会涨。', question: '买什么股票？' }, deps);
  assert.equal(c.refused, true);
  assert.match(reviewer.calls[1][1].content, /回答必须礼貌。[\s\S]*怎么退货？[\s\S]*自己看说明书。/);
});

test('grounding catches a planted unsupported sentence (flag, remove, or refuse)', async () => {
  const sources = [{ id: 'p1', ref: 1, text: '云杉智造的退货政策：自签收之日起七日内，产品未经使用且包装完好，可申请无理由退货。退货运费由买家承担。' }];
  const answer = '签收后七日内，产品未经使用且包装完好，可以申请无理由退货[1]。所有机器人产品享受终身免费上门维修。';
  const warn = parsePolicy({ checks: [{ kind: 'grounding', action: 'warn' }] });
  const w = await runGuard(warn, { stage: 'output', text: answer, sources });
  assert.equal(w.flagged, true);
  assert.equal(w.verdicts[0].matches?.length, 1);
  assert.match(w.verdicts[0].matches![0], /终身免费上门维修/);
  const rw = await runGuard(parsePolicy({ checks: [{ kind: 'grounding', action: 'rewrite' }] }), { stage: 'output', text: answer, sources });
  assert.ok(!rw.text.includes('终身') && rw.text.includes('七日内'));
  const rf = await runGuard(parsePolicy({ refusal_message: '抱歉，资料中没有依据。', checks: [{ kind: 'grounding', action: 'refuse' }] }), { stage: 'output', text: answer, sources });
  assert.equal(rf.refused, true);
  assert.equal(rf.message, '抱歉，资料中没有依据。');
  const ok = await runGuard(warn, { stage: 'output', text: '签收后七日内，产品未经使用且包装完好，可以申请无理由退货[1]。', sources });
  assert.equal(ok.flagged, false);
});

test('GuardStream releases checked sentences, holds the unfinished one, stops at a refusal', async () => {
  assert.equal(lastBoundary('你好。今天'), 3);
  assert.equal(lastBoundary('Hello. World'), 6);
  assert.equal(lastBoundary('v1.2 is'), 0);
  const p = parsePolicy({ checks: [{ kind: 'pii', action: 'rewrite' }, { kind: 'keywords', words: ['机密'], action: 'refuse', message: '内容涉密。' }] });
  const s = new GuardStream(p);
  assert.equal(s.streaming, true);
  assert.equal(await s.push('您好，请拨打138'), '');
  assert.equal(await s.push('12345678联系我们。下一'), '您好，请拨打138****5678联系我们。');
  assert.equal(await s.push('句是机密。还有'), '');
  assert.equal(s.refused, true);
  assert.equal(s.message, '内容涉密。');
  assert.equal(await s.end(), '');
  assert.equal(s.released, '您好，请拨打138****5678联系我们。');
  // whole-answer checks hold the stream until the end
  const g = new GuardStream(parsePolicy({ checks: [{ kind: 'grounding', action: 'rewrite' }] }), {}, { sources: [{ id: 'a', text: '退货期限为七日。' }] });
  assert.equal(g.streaming, false);
  assert.equal(await g.push('退货期限为七日。'), '');
  assert.equal(await g.push('每位客户另送一台扫地机器人作为礼物。'), '');
  assert.equal(await g.end(), '退货期限为七日。');
});
