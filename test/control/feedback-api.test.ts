/**
 * Feedback and guard over HTTP: guard verdicts in the request log, feedback by response id (prompt and answer from
 * the log) or with prompt and answer, validation errors, the review queue, exports in four formats (each imported
 * back as a dataset of the right stage; accepted items by default), and the train action's errors. A guard check
 * with a made-up response id creates no log entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';

test('guard check, request log, feedback, review queue, exports', { timeout: 60_000 }, async () => {
  const { srv, url, stop } = await startServer();
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  try {
    // guard: a named policy, invalid ones rejected with the check's name
    const bad = await api('PUT', '/v1/guard/policies/bad', { checks: [{ name: 'ids', kind: 'regex', patterns: ['('] }] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /checks\[0\] "ids"/);
    const backtracking = await api('PUT', '/v1/guard/policies/bad', { checks: [{ name: 'dup', kind: 'regex', patterns: ['(\\w+) \\1'] }] });
    assert.equal(backtracking.status, 400);
    assert.equal(backtracking.json.error.param, 'policy');
    assert.match(backtracking.json.error.message, /checks\[0\] "dup": patterns\[0\]\.pattern .*backreferences are not supported/);
    const redos = await api('POST', '/v1/guard/check', { policy: { checks: [{ kind: 'regex', patterns: ['(a+)+$'] }] }, text: 'a'.repeat(5000) + 'b' });
    assert.equal(redos.status, 200);
    assert.equal(redos.json.refused, false);
    const policy = { refusal_message: '抱歉，无法回答。', checks: [{ name: 'pii', kind: 'pii', action: 'rewrite' }, { name: 'ban', kind: 'keywords', words: ['赌博'], action: 'refuse' }] };
    assert.equal((await api('PUT', '/v1/guard/policies/support', policy)).status, 200);
    // a made-up response id creates no log entry: only served responses are logged
    const forged = await api('POST', '/v1/guard/check', { policy_name: 'support', stage: 'output', text: '请联系13812345678。', question: '电话多少？', response_id: 'chatcmpl-forged', model: 'spruce-s' });
    assert.equal(forged.status, 404, JSON.stringify(forged.json));
    assert.equal(forged.json.error.param, 'response_id');
    assert.equal((await api('GET', '/v1/requests/chatcmpl-forged')).status, 404);
    assert.equal((await api('GET', '/v1/requests')).json.data.length, 0);
    // what the gateway records when it serves an answer
    await srv.requestLog.recordResponse({ id: 'chatcmpl-1', keyId: null, source: 'api', model: 'spruce-s', prompt: [{ role: 'user', content: '电话多少？' }], answer: '请联系13812345678。', guard: [] });
    const chk = await api('POST', '/v1/guard/check', { policy_name: 'support', stage: 'output', text: '请联系13812345678。', question: '电话多少？', response_id: 'chatcmpl-1', model: 'other-model' });
    assert.equal(chk.status, 200);
    assert.equal(chk.json.text, '请联系138****5678。');
    const refused = await api('POST', '/v1/guard/check', { policy, stage: 'input', text: '网上赌博' });
    assert.equal(refused.json.refused, true);
    assert.equal(refused.json.message, '抱歉，无法回答。');
    const logged = await api('GET', '/v1/requests/chatcmpl-1');
    assert.equal(logged.status, 200);
    assert.equal(logged.json.model, 'spruce-s', 'the body cannot rewrite what was served');
    assert.equal(logged.json.answer, '请联系138****5678。');
    assert.deepEqual(logged.json.guard.map((v: any) => [v.check, v.action]), [['pii', 'rewrite'], ['ban', 'allow']]);
    assert.ok(logged.json.guard.every((v: any) => typeof v.latency_ms === 'number' && v.reason));

    // feedback by response id: prompt and answer from the log
    const f1 = await api('POST', '/v1/feedback', { response_id: 'chatcmpl-1', label: 'wrong', correction: '您好，客服电话是 400-820-0000。', annotator: 'li' });
    assert.equal(f1.status, 200, JSON.stringify(f1.json));
    assert.deepEqual(f1.json.prompt, [{ role: 'user', content: '电话多少？' }]);
    assert.equal(f1.json.answer, '请联系138****5678。');
    assert.equal(f1.json.status, 'pending');
    const unknown = await api('POST', '/v1/feedback', { response_id: 'chatcmpl-none', rating: 5 });
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error.message, /not in the response log: send prompt/);
    assert.equal((await api('POST', '/v1/feedback', { prompt: 'q', answer: 'a', rating: 7 })).json.error.param, 'rating');
    assert.equal((await api('POST', '/v1/feedback', { prompt: 'q', answer: 'a' })).status, 400);

    const q = 'How long is the return window?';
    await api('POST', '/v1/feedback', { prompt: q, answer: 'Seven days from delivery.', rating: 5, annotator: 'wang', source: 'playground' });
    await api('POST', '/v1/feedback', { prompt: q, answer: 'Whatever, read the manual.', rating: 1, annotator: 'wang', source: 'playground' });
    const pref = await api('POST', '/v1/feedback', { prompt: [{ role: 'system', content: 'You are Spruce support.' }, { role: 'user', content: '怎么退货？' }], preferred: { answer_a: '您好，签收后七日内可申请退货。', answer_b: '不知道。', choice: 'a' }, annotator: 'li' });
    assert.equal(pref.status, 200, JSON.stringify(pref.json));
    const rej = await api('POST', '/v1/feedback', { prompt: 'spam', answer: 'x', label: 'right', annotator: 'bot' });

    // review queue
    const queue = await api('GET', '/v1/feedback?status=pending');
    assert.equal(queue.json.data.length, 5);
    assert.equal((await api('GET', '/v1/feedback?status=pending&annotator=wang')).json.data.length, 2);
    assert.equal((await api('GET', '/v1/feedback?status=all&kind=preference')).json.data.length, 1);
    const rv = await api('POST', `/v1/feedback/${rej.json.id}/review`, { status: 'rejected', reviewer: 'lead', note: 'spam' });
    assert.equal(rv.json.status, 'rejected');
    assert.equal(rv.json.reviewer, 'lead');
    await api('POST', `/v1/feedback/${f1.json.id}/review`, { status: 'accepted', reviewer: 'lead' });
    assert.equal((await api('GET', '/v1/feedback?status=pending')).json.data.length, 3);

    // exports: accepted items by default; with pending ones: correction pair, rating pair, explicit preference
    const accepted = await api('POST', '/v1/feedback/export', { format: 'openai-dpo' });
    assert.equal(accepted.json.rows, 1, 'only the reviewed and accepted correction');
    assert.ok(!accepted.json.jsonl.includes('Whatever, read the manual.'), 'unreviewed marks stay out of a default export');
    assert.equal((await api('POST', '/v1/feedback/export', { format: 'sft', dataset: 'fb-default' })).json.rows, 1);
    assert.equal((await api('POST', '/v1/feedback/export', { format: 'openai-dpo', include_pending: 'yes' })).json.error.param, 'include_pending');
    assert.equal((await api('POST', '/v1/feedback/export', { format: 'openai-dpo', accepted_only: false })).json.rows, 3);
    const dpo = await api('POST', '/v1/feedback/export', { format: 'openai-dpo', include_pending: true });
    assert.equal(dpo.json.rows, 3);
    const rows = dpo.json.jsonl.trim().split('\n').map((l: string) => JSON.parse(l));
    assert.ok(rows.some((r: any) => r.preferred_output[0].content === 'Seven days from delivery.' && r.non_preferred_output[0].content === 'Whatever, read the manual.'));
    assert.ok(rows.some((r: any) => r.input.messages[0].role === 'system'));
    assert.ok(!dpo.json.jsonl.includes('spam'), 'rejected items never reach an export');
    assert.equal((await api('POST', '/v1/feedback/export', { format: 'openai-dpo', accepted_only: true })).json.rows, 1);
    for (const [format, stage, n] of [['openai-dpo', 'preference', 3], ['llamafactory-ranking', 'preference', 3], ['sft', 'sft', 3], ['kto', 'kto', 6]] as const) {
      const r = await api('POST', '/v1/feedback/export', { format, dataset: `fb-${format}`, include_pending: true });
      assert.equal(r.status, 200, `${format}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.dataset.stage, stage, format);
      assert.equal(r.json.rows, n, format);
    }
    assert.equal((await api('POST', '/v1/feedback/export', { format: 'csv' })).status, 400);
    const noBase = await api('POST', '/v1/feedback/train', { model: 'no-such-base' });
    assert.equal(noBase.status, 404, JSON.stringify(noBase.json));
  } finally {
    await stop();
  }
});
