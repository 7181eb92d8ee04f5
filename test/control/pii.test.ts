/** PII detectors: ID-card checksum and birth date, mobiles, Luhn bank cards, e-mails, masking (Chinese and English text). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findPii, idCardCheckChar, isValidIdCard, luhnValid, maskPii } from '../../src/control/pii.ts';

const luhnComplete = (body: string) => { for (let d = 0; d < 10; d++) if (luhnValid(body + d)) return body + d; throw new Error('unreachable'); };

test('PRC ID card: MOD 11-2 checksum and a plausible birth date', () => {
  assert.equal(idCardCheckChar('11010519491231002'), 'X');
  assert.ok(isValidIdCard('11010519491231002X'));
  assert.ok(isValidIdCard('11010519491231002x'));
  assert.ok(!isValidIdCard('110105194912310021'), 'wrong check digit');
  const badDate = '11010519491331002'; // month 13
  assert.ok(!isValidIdCard(badDate + idCardCheckChar(badDate)));
  const future = '11010530001231002';
  assert.ok(!isValidIdCard(future + idCardCheckChar(future)));
  const feb30 = '44030420000230123';
  assert.ok(!isValidIdCard(feb30 + idCardCheckChar(feb30)));
  const m = findPii('我的身份证号是11010519491231002X，请核实。My ID 110105194912310021 is fake.');
  assert.deepEqual(m.map((x) => [x.kind, x.text]), [['id_card', '11010519491231002X']]);
});

test('mobiles, bank cards (Luhn), e-mails; no match inside longer digit runs', () => {
  const card = luhnComplete('622202123456789012');
  const bad = card.slice(0, -1) + ((Number(card.at(-1)) + 1) % 10);
  const text = `电话13812345678或+86 139-1234-5678，卡号${card}，错号${bad}，card 4111 1111 1111 1111, mail zhang.san@example.com.cn；订单号 2023120112345678901234。`;
  const m = findPii(text);
  assert.deepEqual(m.map((x) => [x.kind, x.text]), [
    ['mobile', '13812345678'], ['mobile', '+86 139-1234-5678'], ['bank_card', card], ['bank_card', '4111 1111 1111 1111'], ['email', 'zhang.san@example.com.cn'],
  ]);
  assert.ok(!findPii('12812345678').length, '12x is not a mobile prefix');
  assert.ok(!findPii('订单 213812345678').some((x) => x.kind === 'mobile'), 'inside a longer number');
});

test('masking keeps a few characters', () => {
  const card = luhnComplete('622202123456789012');
  const out = maskPii(`身份证11010519491231002X 手机13812345678 卡${card} 邮箱 alice@corp.cn`);
  assert.equal(out, `身份证110***********002X 手机138****5678 卡${'*'.repeat(15)}${card.slice(-4)} 邮箱 a****@corp.cn`);
  assert.equal(maskPii('card 4111 1111 1111 1111'), 'card **** **** **** 1111');
});
