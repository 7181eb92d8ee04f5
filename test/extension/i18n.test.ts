/** The panel's two languages (extension/src/i18n): every Chinese text fills the same placeholders as the English one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../extension/src/i18n/en.ts';
import { zh } from '../../extension/src/i18n/zh.ts';
import { defaultLang, t } from '../../extension/src/i18n/i18n.ts';

test('same keys, same placeholders, no empty text; placeholders filled', () => {
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
  const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const k of Object.keys(en) as Array<keyof typeof en>) {
    assert.ok(zh[k].trim(), k);
    assert.deepEqual(holes(zh[k]), holes(en[k]), k);
  }
  assert.equal(t('zh', 'stepPart', { step: 2, total: 4 }), '第 2/4 步：摘要第 2 部分');
  assert.equal(t('en', 'connected', { n: 3 }), 'Connected: 3 models');
  assert.equal(defaultLang('zh-CN'), 'zh');
  assert.equal(defaultLang('en-GB'), 'en');
});
