/**
 * The one place errors become HTTP answers: OpenAI's body `{error: {message, type, param, code}}` with the status
 * OpenAI uses. Every stage throws a `StatusError` (util/status-error.ts) or a subclass; a `ValidationError` adds
 * `problems` (every problem: file, line or path, message) and `problems_omitted`. The few errors that are not
 * StatusErrors are mapped here by an explicit table: the model-file readers' format errors and Fastify's own
 * errors. Anything else is a 500 whose message is not shown (it is logged).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { isStatusError, StatusError, ValidationError, type ProblemDetail } from '../util/status-error.ts';
import { UpstreamError } from '../openai/openai-client.ts';
import { GgufError } from '../formats/gguf.ts';
import { GgufQuantError } from '../formats/gguf-quants.ts';
import { SafetensorsError } from '../formats/safetensors.ts';
import { ModelFileError } from '../model-files/llama-layout.ts';

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; problems?: ProblemDetail[]; problems_omitted?: number };
}

/**
 * The API's own StatusError, with the argument order routes used before StatusError existed:
 * `new ApiError(status, message, type, param, code)`. New code throws `StatusError` directly.
 */
export class ApiError extends StatusError {
  constructor(status: number, message: string, type = 'invalid_request_error', param: string | null = null, code: string | null = null) {
    super(status, message, { type, param, code });
  }
}

export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null): ApiErrorBody {
  return { error: { message, type, param, code } };
}

/**
 * Errors of the pure format readers, which know nothing of HTTP: a file a request named cannot be used. Routes that
 * know which parameter named the file add it (e.g. POST /v1/models wraps them with `param: 'path'`). Each is a 400
 * `invalid_model_file`.
 */
const FORMAT_ERRORS: ReadonlyArray<new (...args: never[]) => Error> = [ModelFileError, GgufError, GgufQuantError, SafetensorsError];

/** Fastify's body-size errors: only a multipart upload's part is a `file`; a JSON body over the limit names no parameter. */
const TOO_LARGE: Record<string, { param: string | null; code: string }> = {
  FST_REQ_FILE_TOO_LARGE: { param: 'file', code: 'file_too_large' },
  FST_ERR_CTP_BODY_TOO_LARGE: { param: null, code: 'request_too_large' },
};

/** Maps any error to (status, body). */
export function toApiError(err: unknown): { status: number; body: ApiErrorBody } {
  // an upstream's own status is not this server's: a call to a model that failed is a 502 (504, 499) here
  const e = err instanceof UpstreamError ? err.asDependencyError('upstream') : err;
  if (isStatusError(e)) {
    // 499 (the caller went away) is no status a client can read; whoever still listens gets a 400
    const status = e.status === 499 ? 400 : e.status >= 400 && e.status <= 599 ? e.status : 500;
    const body = errorBody(e.message, e.type, e.param ?? null, e.code ?? null);
    if (e instanceof ValidationError && e.problems.length) {
      body.error.problems = e.problems;
      if (e.omitted > 0) body.error.problems_omitted = e.omitted;
    }
    return { status, body };
  }
  if (FORMAT_ERRORS.some((c) => e instanceof c)) return { status: 400, body: errorBody((e as Error).message, 'invalid_request_error', null, 'invalid_model_file') };
  const fe = e as FastifyError;
  const large = typeof fe?.code === 'string' && Object.hasOwn(TOO_LARGE, fe.code) ? TOO_LARGE[fe.code] : undefined;
  if (large) return { status: 413, body: errorBody(fe.message, 'invalid_request_error', large.param, large.code) };
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: errorBody(fe.message, 'invalid_request_error', null, fe.code ?? null) };
  }
  return { status: 500, body: errorBody('The server had an error while processing your request.', 'server_error', null, null) };
}

/** How much of a refused request body is read and dropped before the answer, at most: beyond, the answer goes anyway. */
export const DRAIN_MAX_BYTES = 256 * 1024 * 1024;
export const DRAIN_MAX_MS = 30_000;

/**
 * Reads and drops the rest of a request body the server will not use. An answer sent while the client is still
 * uploading, on a connection the server then closes (Fastify closes it after a body-limit error), makes the kernel
 * reset the connection when more data arrives, and a client that is still writing (Node's fetch) reports the
 * reset instead of the answer. Read to the end first, the answer is the last thing on the wire.
 */
export function drainRequest(raw: IncomingMessage, maxBytes = DRAIN_MAX_BYTES, maxMs = DRAIN_MAX_MS): Promise<void> {
  if (raw.complete || raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let n = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('close', done);
      raw.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => { n += chunk.length; if (n > maxBytes) done(); };
    const timer = setTimeout(done, maxMs);
    timer.unref();
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.once('error', done);
    // a multipart parser may still be attached (and no longer reading): the rest goes nowhere
    raw.unpipe();
    raw.resume();
  });
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (err, req, reply) => {
    const { status, body } = toApiError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, code: body.error.code }, body.error.message.split('\n')[0]);
    await drainRequest(req.raw);
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(errorBody(`Unknown request URL: ${req.method} ${req.url}.`, 'invalid_request_error', null, 'unknown_url'));
  });
}
