/** importModel / exportModel / exportMethod by path: GGUF files and HF / PEFT folders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportMethod, exportModel, importModel } from '../../src/model-files/model-files.ts';
import { ModelFileError } from '../../src/model-files/llama-layout.ts';
import { randomModel, shapes, testTokenizer } from './model-fixtures.ts';

test('exportModel / importModel for GGUF files and HF folders; exportMethod per method', () => {
  const tok = testTokenizer(), c = shapes(tok.vocabSize).tied_mha;
  const dir = mkdtempSync(join(tmpdir(), 'mf-files-'));
  try {
    const m = randomModel(c, 1);
    exportModel(m, tok, { format: 'gguf', path: join(dir, 'out', 'm.gguf'), weightType: 'F32' });
    exportModel(m, tok, { format: 'hf', path: join(dir, 'hf') });
    for (const p of [join(dir, 'out', 'm.gguf'), join(dir, 'hf')]) {
      const back = importModel(p);
      assert.deepEqual(back.config, c);
      for (const [n, t] of m.params) assert.deepEqual(back.tensors.get(n), t.data, `${p} ${n}`);
    }
    const code = (f: () => unknown) => { try { f(); return 'OK'; } catch (e) { assert.ok(e instanceof ModelFileError, String(e)); return e.code; } };
    assert.equal(code(() => importModel(join(dir, 'none'))), 'MISSING_FILE');
    assert.equal(code(() => importModel(dir)), 'MISSING_FILE');
    assert.equal(code(() => exportMethod(m, { format: 'gguf', path: join(dir, 'x.gguf') })), 'UNSUPPORTED');
    const lora = randomModel(c, 2);
    lora.applyMethod({ type: 'lora', rank: 2, alpha: 4, targets: ['q'] }, 1);
    exportMethod(lora, { format: 'gguf', path: join(dir, 'a.gguf') });
    exportMethod(lora, { format: 'peft', path: join(dir, 'peft') });
    assert.ok(existsSync(join(dir, 'a.gguf')) && existsSync(join(dir, 'peft', 'adapter_model.safetensors')));
    const prefix = randomModel(c, 3);
    prefix.applyMethod({ type: 'prefix', numVirtualTokens: 2 }, 1);
    assert.equal(code(() => exportMethod(prefix, { format: 'gguf', path: join(dir, 'p.gguf') })), 'UNSUPPORTED');
    exportMethod(prefix, { format: 'peft', path: join(dir, 'prefix') });
    assert.ok(existsSync(join(dir, 'prefix', 'adapter_config.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
