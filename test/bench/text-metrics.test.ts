/**
 * Metrics against hand-computed values on small fixtures. Where each reference value comes from is said per test:
 * SQuAD v1.1 evaluate-v1.1.py (normalize_answer, f1_score, exact_match_score), Lin 2004 ROUGE-L (as Google's
 * rouge-score with beta 1), sacrebleu 2.x BLEU (13a tokenizer, exp smoothing), lm-evaluation-harness multiple
 * choice (acc, acc_norm), MMBench CircularEval, Hunter 2004 Bradley-Terry, Elo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  answerTokens, bleuStats, bradleyTerry, circularCorrect, contains, corpusBleu, elo, exactMatch, lcsLength, mcDecision,
  normalizeAnswer, perplexityAggregate, regexMatch, rotate, rotatedGold, rougeL, sentenceBleu, tokenize13a, tokenF1, validJson,
} from '../../src/bench/text-metrics.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('SQuAD normalisation, exact match and token F1 (hand-computed from evaluate-v1.1.py)', () => {
  assert.equal(normalizeAnswer('The  Cat, sat!'), 'cat sat');
  assert.equal(exactMatch('The Cat!', 'cat'), 1);
  assert.equal(exactMatch('a cat', ['dog', 'the cat']), 1);
  assert.equal(exactMatch('cats', 'cat'), 0);
  // pred -> [cat, sat, on, mat], ref -> [cat, is, on, mat]: 3 shared, P = R = 3/4, F1 = 0.75
  close(tokenF1('the cat sat on the mat', 'the cat is on the mat'), 0.75);
  // pred [big, red, dog] vs ref [red, dog]: P = 2/3, R = 1, F1 = 2*(2/3)/(5/3) = 0.8
  close(tokenF1('big red dog', 'red dog'), 0.8);
  assert.equal(tokenF1('', ''), 1);
  assert.equal(tokenF1('x', ''), 0);
});

test('Chinese: character-level EM / F1 (CMRC 2018 mixed segmentation)', () => {
  assert.deepEqual(answerTokens('杭州市 AB-3 型'), ['杭', '州', '市', 'ab', '3', '型']);
  // [杭, 州, 市] vs [杭, 州]: P = 2/3, R = 1 -> 0.8
  close(tokenF1('杭州市', '杭州'), 0.8);
  assert.equal(exactMatch('杭州。', '杭州'), 1);
  assert.equal(contains('答案是杭州仓库。', '杭州'), 1);
  assert.equal(contains('answer: 4821', '4821'), 1);
  assert.equal(contains('48215', '4821'), 0);
});

test('ROUGE-L F-measure (Lin 2004, beta 1) incl. CJK characters', () => {
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'b']), 3);
  // LCS(the cat sat on the mat, the cat is on the mat) = "the cat on the mat" = 5; P = R = 5/6
  close(rougeL('the cat sat on the mat', 'the cat is on the mat'), 5 / 6);
  // pred 6 tokens, ref 4 [police killed the gunman]; LCS "the gunman" = 2 -> P 2/6, R 2/4, F = 2PR/(P+R) = 0.4
  close(rougeL('the gunman was shot by police', 'police killed the gunman'), 0.4);
  // 我爱杭州 vs 我在杭州: LCS 我杭州 = 3 of 4 each -> 0.75
  close(rougeL('我爱杭州', '我在杭州'), 0.75);
  assert.equal(rougeL('', 'x'), 0);
});

test('BLEU as sacrebleu (13a, exp smoothing), hand-computed', () => {
  assert.equal(tokenize13a('Hello, world. It costs $3.50!'), 'Hello , world . It costs $ 3.50 !');
  // hyp "the cat sat on the mat" / ref "the cat is on the mat": matches 5/6, 3/5, 1/4, 0/3;
  // exp smoothing gives p4 = 1/(2*3); BP = 1 (6 = 6). BLEU = (5/6 * 3/5 * 1/4 * 1/6)^(1/4) = (1/48)^(1/4) = 0.379918...
  const s = bleuStats('the cat sat on the mat', ['the cat is on the mat'], '13a');
  assert.deepEqual(s, { correct: [5, 3, 1, 0], total: [6, 5, 4, 3], sysLen: 6, refLen: 6 });
  close(corpusBleu(['the cat sat on the mat'], [['the cat is on the mat']]), (1 / 48) ** 0.25);
  close(corpusBleu(['the cat is on the mat'], [['the cat is on the mat']]), 1);
  // brevity penalty: hyp "the cat" (2) vs ref of 6: p = 1, 1, then orders 3 and 4 have no n-grams -> corpus BLEU 0
  assert.equal(corpusBleu(['the cat'], [['the cat is on the mat']]), 0);
  // sentence BLEU uses the effective order: only 1- and 2-grams, BP = exp(1 - 6/2) -> e^-2
  close(sentenceBleu('the cat', 'the cat is on the mat'), Math.exp(-2));
  // Chinese is split into characters (sacrebleu zh): 我爱杭州 vs 我爱杭州 = 1
  close(sentenceBleu('我爱杭州', '我爱杭州'), 1);
});

test('contains / regex / valid JSON', () => {
  assert.equal(regexMatch('Answer: B', '^Answer: [A-D]$'), 1);
  assert.equal(regexMatch('answer: b', '/^answer: [a-d]$/i'), 1);
  assert.equal(regexMatch('Answer: E', '^Answer: [A-D]$'), 0);
  assert.equal(validJson(' {"a": [1, 2]} '), 1);
  assert.equal(validJson('```json\n{"a": 1}\n```'), 1);
  assert.equal(validJson('{a: 1}'), 0);
});

test('multiple choice: acc, acc_norm by UTF-8 bytes, CircularEval (lm-evaluation-harness / MMBench)', () => {
  // lls [-4, -6, -5], lengths [1, 8, 2] bytes: argmax ll = 0; argmax ll/len = [-4, -0.75, -2.5] -> 1
  const d = mcDecision([-4, -6, -5], ['a', 'bbbbbbbb', 'cc'], 1);
  assert.deepEqual(d, { pred: 0, predNorm: 1, acc: 0, accNorm: 1 });
  // bytes, not characters: '杭州' is 6 bytes -> -3/6 = -0.5 beats 'ab' -2/2 = -1
  assert.equal(mcDecision([-3, -2], ['杭州', 'ab'], 0).predNorm, 0);
  assert.deepEqual(rotate(['A', 'B', 'C', 'D'], 1), ['B', 'C', 'D', 'A']);
  assert.equal(rotatedGold(0, 1, 4), 3); // gold A moved to the last slot
  assert.equal(circularCorrect([{ pred: 1, gold: 1 }, { pred: 0, gold: 0 }]), 1);
  assert.equal(circularCorrect([{ pred: 1, gold: 1 }, { pred: 2, gold: 0 }]), 0);
});

test('perplexity aggregates (harness weighted_perplexity / bits_per_byte)', () => {
  // two texts of 4 bytes each, total ll = -8 ln 2 over 8 bytes -> 1 bit per byte, byte perplexity 2
  const a = perplexityAggregate([{ logProb: -4 * Math.LN2, tokens: 2, text: 'abcd' }, { logProb: -4 * Math.LN2, tokens: 2, text: 'efgh' }]);
  close(a.bits_per_byte, 1);
  close(a.byte_perplexity, 2);
  close(a.token_perplexity, 2 ** 2);
});

test('Bradley-Terry (MM) and Elo, hand-computed', () => {
  // A beats B 3 times of 4: the MLE has p_A / p_B = 3, so p_A = 0.75 of the total
  const g = [{ a: 'A', b: 'B', score: 1 }, { a: 'A', b: 'B', score: 1 }, { a: 'A', b: 'B', score: 1 }, { a: 'A', b: 'B', score: 0 }];
  const bt = bradleyTerry(g, { prior: 0 });
  close(bt.strengths.A, 0.75, 1e-9);
  // three players in a consistent order: A > B > C
  const g3 = [...g, { a: 'B', b: 'C', score: 1 }, { a: 'B', b: 'C', score: 1 }, { a: 'B', b: 'C', score: 0.5 }, { a: 'A', b: 'C', score: 1 }];
  const s3 = bradleyTerry(g3).strengths;
  assert.ok(s3.A > s3.B && s3.B > s3.C);
  // Elo: equal ratings, E = 0.5, K = 4 -> 1002 / 998
  assert.deepEqual(elo([{ a: 'x', b: 'y', score: 1 }]), { x: 1002, y: 998 });
});
