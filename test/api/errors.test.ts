/**
 * The one error map: every stage's error is a StatusError whose status, type, code and param reach OpenAI's error
 * body unchanged; validation errors add their problems; the format readers' errors map by the table; Fastify's
 * body-limit errors name `file` only for uploads; anything else is a 500 that shows nothing of the error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, toApiError } from '../../src/api/errors.ts';
import { StatusError } from '../../src/util/status-error.ts';
import { ServeError } from '../../src/serve/deployments.ts';
import { BackendError } from '../../src/serve/model-backend.ts';
import { ControlError } from '../../src/control/feedback.ts';
import { GuardPolicyError } from '../../src/control/guard.ts';
import { BotError } from '../../src/bots/bot-service.ts';
import { BotNotFoundError } from '../../src/bots/bot-repository.ts';
import { DataError } from '../../src/data/data-service.ts';
import { DatasetValidationError } from '../../src/data/problems.ts';
import { FactoryError } from '../../src/factory/factory-service.ts';
import { SchedulerError } from '../../src/factory/scheduler.ts';
import { JobNotFoundError } from '../../src/factory/job-repository.ts';
import { ExperimentValidationError } from '../../src/factory/experiment-file.ts';
import { AccessDeniedError, KbExistsError, KnowledgeRequestError } from '../../src/knowledge/knowledge-service.ts';
import { NotFoundError } from '../../src/knowledge/knowledge-repository.ts';
import { IngestError } from '../../src/knowledge/ingest/readers.ts';
import { IngestLimitError } from '../../src/knowledge/ingest/ingest-limits.ts';
import { GgufError } from '../../src/formats/gguf.ts';
import { SafetensorsError } from '../../src/formats/safetensors.ts';
import { ModelFileError } from '../../src/model-files/llama-layout.ts';
import { UpstreamError } from '../../src/openai/openai-client.ts';

const row = (e: unknown) => { const { status, body } = toApiError(e); return [status, body.error.type, body.error.param, body.error.code]; };

test('every status-carrying error is a StatusError and maps to its own status, type, param and code', () => {
  const cases: Array<[unknown, unknown[]]> = [
    [new ServeError(404, 'no model', 'model_not_found', 'model'), [404, 'invalid_request_error', 'model', 'model_not_found']],
    [new ServeError(429, 'slow down', 'rate_limit_exceeded'), [429, 'rate_limit_error', null, 'rate_limit_exceeded']],
    [new BackendError(502, 'upstream down', 'upstream_error'), [502, 'server_error', null, 'upstream_error']],
    [new BackendError(499, 'request aborted', 'aborted'), [400, 'invalid_request_error', null, 'aborted']],
    [new BackendError(400, 'too long', 'context_length_exceeded', 'messages'), [400, 'invalid_request_error', 'messages', 'context_length_exceeded']],
    [new ControlError(503, 'policy missing', 'guard', 'guard_policy_missing'), [503, 'server_error', 'guard', 'guard_policy_missing']],
    [new ControlError(404, 'no feedback', 'id', 'not_found'), [404, 'invalid_request_error', 'id', 'not_found']],
    [new GuardPolicyError('bad policy'), [400, 'invalid_request_error', 'policy', 'invalid_policy']],
    [new BotError(409, 'exists', 'name', 'bot_exists'), [409, 'invalid_request_error', 'name', 'bot_exists']],
    [new BotNotFoundError('no bot b'), [404, 'invalid_request_error', null, 'not_found']],
    [new DataError(404, 'no dataset', 'dataset', 'dataset_not_found'), [404, 'invalid_request_error', 'dataset', 'dataset_not_found']],
    [new FactoryError(500, 'broke'), [500, 'server_error', null, null]],
    [new SchedulerError('conflict', 'running'), [409, 'invalid_request_error', null, 'conflict']],
    [new SchedulerError('not_found', 'no job'), [404, 'invalid_request_error', null, 'not_found']],
    [new JobNotFoundError('j1'), [404, 'invalid_request_error', null, 'not_found']],
    [new AccessDeniedError('not yours'), [403, 'invalid_request_error', null, 'knowledge_base_not_allowed']],
    [new KbExistsError('exists'), [409, 'invalid_request_error', 'name', 'already_exists']],
    [new KnowledgeRequestError('kbs needed', 'kbs'), [400, 'invalid_request_error', 'kbs', null]],
    [new NotFoundError('no kb'), [404, 'invalid_request_error', null, 'not_found']],
    [new IngestError('cannot read'), [400, 'invalid_request_error', 'document', 'invalid_document']],
    [new IngestLimitError('maxBytes', 10, 'a.md has 11 bytes'), [413, 'invalid_request_error', 'document', 'document_too_large']],
    [new ApiError(400, 'bad', 'invalid_request_error', 'n', 'invalid_value'), [400, 'invalid_request_error', 'n', 'invalid_value']],
    [new StatusError(418, 'teapot'), [418, 'invalid_request_error', null, null]],
  ];
  for (const [e, want] of cases) {
    assert.ok(e instanceof StatusError, `${(e as Error).name} is a StatusError`);
    assert.deepEqual(row(e), want, (e as Error).name);
    assert.equal(toApiError(e).body.error.message, (e as Error).message);
  }
  assert.equal(new JobNotFoundError('j1').jobId, 'j1');
  assert.equal(new IngestLimitError('maxBytes', 10, 'x').limit, 'maxBytes');
});

test('validation errors carry every problem; other errors none', () => {
  const problems = [{ file: 'a.jsonl', line: 3, message: 'not JSON' }];
  const d = toApiError(new DatasetValidationError(problems, 5));
  assert.deepEqual([d.status, d.body.error.param, d.body.error.code, d.body.error.problems, d.body.error.problems_omitted], [400, 'file', 'invalid_file', problems, 5]);
  const f = toApiError(new FactoryError(400, 'bad experiment', 'lr', 'invalid_experiment', [{ file: 'experiment', path: 'lr', message: 'not a number' }]));
  assert.equal(f.body.error.problems?.length, 1);
  assert.equal(toApiError(new FactoryError(400, 'no problems')).body.error.problems, undefined);
  const x = toApiError(new ExperimentValidationError([{ file: 'exp.yaml', line: 2, path: 'methods[0]', message: 'unknown method' }]));
  assert.deepEqual([x.status, x.body.error.param, x.body.error.code, x.body.error.problems?.length], [400, 'methods[0]', 'invalid_experiment', 1]);
});

test('format errors by the table; Fastify body limits; upstream statuses; anything else a silent 500', () => {
  assert.deepEqual(row(new GgufError('BAD_MAGIC', 'not a GGUF file')), [400, 'invalid_request_error', null, 'invalid_model_file']);
  assert.deepEqual(row(new SafetensorsError('FILE_TOO_SMALL', 'short')), [400, 'invalid_request_error', null, 'invalid_model_file']);
  assert.deepEqual(row(new ModelFileError('BAD_FILE', 'bad')), [400, 'invalid_request_error', null, 'invalid_model_file']);
  const fst = (code: string, statusCode: number) => Object.assign(new Error('too large'), { code, statusCode });
  assert.deepEqual(row(fst('FST_REQ_FILE_TOO_LARGE', 413)), [413, 'invalid_request_error', 'file', 'file_too_large']);
  assert.deepEqual(row(fst('FST_ERR_CTP_BODY_TOO_LARGE', 413)), [413, 'invalid_request_error', null, 'request_too_large']);
  assert.deepEqual(row(fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415)), [415, 'invalid_request_error', null, 'FST_ERR_CTP_INVALID_MEDIA_TYPE']);
  // an upstream's 404 that escaped its caller is not this server's 404
  const up = toApiError(new UpstreamError('http', 404, 'model not found', { code: 'model_not_found' }, 404));
  assert.deepEqual([up.status, up.body.error.type, up.body.error.code], [502, 'server_error', 'upstream_error']);
  assert.match(up.body.error.message, /HTTP 404: model not found/);
  const secret = toApiError(new Error('ENOENT: /secret/path/db.sqlite'));
  assert.equal(secret.status, 500);
  assert.doesNotMatch(secret.body.error.message, /secret/);
  assert.deepEqual(row('a string'), [500, 'server_error', null, null]);
});
