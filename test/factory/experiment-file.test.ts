/**
 * Experiment files are validated like datasets: every problem at once, each with the file, the line and the field;
 * unknown keys named with the nearest valid key at every level; enum values listed; the same messages (by field
 * path) for an object sent to the API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ExperimentValidationError, loadExperimentFile, parseExperimentFile, validateExperimentRequest } from '../../src/factory/experiment-file.ts';
import type { Problem } from '../../src/data/problems.ts';

const example = new URL('../../examples/experiment.yaml', import.meta.url).pathname;

const at = (problems: Problem[], path: string) => problems.filter((p) => p.path === path);
function one(problems: Problem[], path: string, message: RegExp, line?: number): void {
  const hits = at(problems, path);
  assert.equal(hits.length, 1, `one problem at ${path}; got ${JSON.stringify(problems, null, 1)}`);
  assert.match(hits[0].message, message);
  if (line !== undefined) assert.equal(hits[0].line, line, `${path}: line`);
}

test('examples/experiment.yaml is valid, with and without its commented DPO stage', () => {
  const text = readFileSync(example, 'utf8');
  const plain = parseExperimentFile(text, 'examples/experiment.yaml');
  assert.deepEqual(plain.problems, []);
  assert.deepEqual(plain.request?.sweep, { lr: [0.001, 0.003] });
  const withThen = parseExperimentFile(text.replace(/^# (then:| {2})/gm, '$1'), 'examples/experiment.yaml');
  assert.deepEqual(withThen.problems, []);
  assert.equal(withThen.request?.then?.[0].stage, 'dpo');
});

const BAD = `name: support-grid
stage: sfft
base_models: [spruce-s]
datasets: [support_qa]
methods:
  - name: full
    spec: { type: full }
  - { type: lroa, rank: 16, alpha: 32 }
  - { type: full, rank: 4 }
  - name: lora
    spec: { type: lora, rnak: 8, alpha: 16, targets: [q, vv] }
  - name: full
    spec: { type: prefix, numVirtualTokens: 0 }
epochs: 3
hyperparameters:
  epoch: 2
  batchsize: 16
  learning_rate: 0.1
  schedule: cosin
  preference: { loss: dpoo, bta: 0.1 }
sweep:
  lr: 0.003
  batchSize: [8, 0]
  wamupRatio: [0.1]
seeds: [0, -1]
suites: [factroy]
then:
  - stage: pretrain
    datasets: []
    hyperparams: { lr: 0.001 }
`;

test('every problem of a YAML file at once, each with file, line and field', () => {
  const { request, problems } = parseExperimentFile(BAD, 'bad.yaml');
  assert.equal(request, null, 'nothing to submit when any problem exists');
  for (const p of problems) assert.equal(p.file, 'bad.yaml');
  one(problems, 'stage', /^must be one of pretrain, sft, dpo; got 'sfft' \(did you mean 'sft'\?\)$/, 2);
  // a misspelled method type is a validation error that lists the types, not a "rejected combination"
  one(problems, 'methods[1].type', /^must be one of full, freeze, lora, qlora, prefix, prompt; got 'lroa' \(did you mean 'lora'\?\)$/, 8);
  one(problems, 'methods[2].rank', /'rank' is an option of lora, qlora, not of full/, 9);
  one(problems, 'methods[3].spec.rnak', /^unknown key 'rnak' \(did you mean 'rank'\?\)$/, 11);
  one(problems, 'methods[3].spec.targets', /'vv' is not one of all, q, k, v, .*\(did you mean 'v'\?\)/, 11);
  one(problems, 'methods[4].name', /'full' is already the name of methods\[0\]/, 12);
  one(problems, 'methods[4].spec.numVirtualTokens', /must be a positive integer, got 0/, 13);
  one(problems, 'epochs', /'epochs' is a hyperparameter: put it under hyperparameters/, 14);
  one(problems, 'hyperparameters.epoch', /^unknown key 'epoch' \(did you mean 'epochs'\?\)$/, 16);
  one(problems, 'hyperparameters.batchsize', /^unknown key 'batchsize' \(did you mean 'batchSize'\?\)$/, 17);
  one(problems, 'hyperparameters.learning_rate', /^unknown key 'learning_rate' \(did you mean 'lr'\?\)$/, 18);
  one(problems, 'hyperparameters.schedule', /must be one of cosine, linear, constant; got 'cosin'/, 19);
  one(problems, 'hyperparameters.preference.loss', /must be one of dpo, orpo, simpo/, 20);
  one(problems, 'hyperparameters.preference.bta', /did you mean 'beta'/, 20);
  one(problems, 'sweep.lr', /must be a non-empty list of values to try/, 22);
  one(problems, 'sweep.batchSize[1]', /must be an integer >= 1, got 0/, 23);
  one(problems, 'sweep.wamupRatio', /did you mean 'warmupRatio'/, 24);
  one(problems, 'seeds[1]', /must be an integer >= 0, got -1/, 25);
  one(problems, 'suites[0]', /must be one of factory; got 'factroy'/, 26);
  one(problems, 'then[0].stage', /must be one of sft, dpo; got 'pretrain'/, 28);
  one(problems, 'then[0].datasets', /must be a non-empty list of registered dataset names, got an empty list/, 29);
  one(problems, 'then[0].hyperparams', /did you mean 'hyperparameters'/, 30);
  assert.equal(problems.length, 22, JSON.stringify(problems, null, 1));
  // in the file's order
  assert.deepEqual(problems.map((p) => p.line), [...problems.map((p) => p.line!)].sort((a, b) => a - b));
});

test('a JSON file gets the same problems with its own lines; a syntax error names its line', () => {
  const obj = YAML.parse(BAD);
  const json = JSON.stringify(obj, null, 2);
  const { problems } = parseExperimentFile(json, 'bad.json');
  assert.equal(problems.length, 22);
  const lines = json.split('\n');
  const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
  one(problems, 'hyperparameters.epoch', /did you mean 'epochs'/, lineOf('"epoch":'));
  one(problems, 'stage', /got 'sfft'/, lineOf('"sfft"'));
  const broken = parseExperimentFile('{\n  "name": "x",\n  "stage": "sft"\n  "datasets": []\n}', 'broken.json');
  assert.equal(broken.request, null);
  assert.equal(broken.problems.length, 1);
  assert.equal(broken.problems[0].line, 4);
  assert.match(broken.problems[0].message, /^invalid JSON/);
  const yaml = parseExperimentFile('name: x\nname: y\nmethods: [\n', 'broken.yaml');
  assert.ok(yaml.problems.length >= 1 && yaml.problems.every((p) => p.line !== undefined && /^invalid YAML/.test(p.message)), JSON.stringify(yaml.problems));
});

test('the object the API receives gets the same messages, by field path', () => {
  const problems = validateExperimentRequest(YAML.parse(BAD), { file: 'experiment' });
  assert.equal(problems.length, 22);
  assert.ok(problems.every((p) => p.line === undefined && p.file === 'experiment'));
  one(problems, 'hyperparameters.epoch', /^unknown key 'epoch' \(did you mean 'epochs'\?\)$/);
  const missing = validateExperimentRequest({ stage: 'sft' }, { file: 'experiment' });
  assert.deepEqual(missing.map((p) => p.path), ['name', 'base_models', 'datasets', 'methods']);
  assert.match(validateExperimentRequest([], { file: 'experiment' })[0].message, /an experiment must be a mapping with name, base_models, datasets, methods/);
  // what the console's wizard sends is valid
  assert.deepEqual(validateExperimentRequest({
    name: 'grid-1', stage: 'sft', base_models: ['spruce-s'], datasets: ['support_qa'], methods: [{ type: 'lora', rank: 8, alpha: 16 }, { type: 'prefix', numVirtualTokens: 16 }, { type: 'freeze' }],
    hyperparameters: { epochs: 1, batchSize: 8, seqLen: 128 }, sweep: { lr: [0.001, 0.003] }, seeds: [0], suites: [], then: [{ stage: 'dpo', datasets: ['prefs'] }],
  }, { file: 'experiment' }), []);
});

test('loadExperimentFile: one error with every problem; a missing file is named, not an ENOENT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-expfile-'));
  try {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, BAD);
    assert.throws(() => loadExperimentFile(f, 'bad.yaml'), (e: unknown) => {
      assert.ok(e instanceof ExperimentValidationError);
      assert.equal(e.problems.length, 22);
      assert.match(e.message, /experiment validation failed with 22 problem\(s\)/);
      assert.match(e.message, /bad\.yaml: line 16: hyperparameters\.epoch: unknown key 'epoch' \(did you mean 'epochs'\?\)/);
      return true;
    });
    assert.throws(() => loadExperimentFile(join(dir, 'nope.yaml'), 'nope.yaml'), /nope\.yaml: file not found/);
    assert.equal(loadExperimentFile(example).name, 'support-bot-grid');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
