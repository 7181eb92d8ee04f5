/**
 * Errors in OpenAI's shape: `{error: {message, type, param, code}}`, with the HTTP status OpenAI uses.
 * Dataset and experiment validation failures are 400s that also carry `problems` (every problem: file, line or path,
 * message).
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { DataError } from '../data/data-service.ts';
import { DatasetValidationError, type Problem } from '../data/problems.ts';
import { FactoryError } from '../factory/factory-service.ts';

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; problems?: Problem[]; problems_omitted?: number };
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly type = 'invalid_request_error', readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null): ApiErrorBody {
  return { error: { message, type, param, code } };
}

/** Maps any error to (status, body). */
export function toApiError(e: unknown): { status: number; body: ApiErrorBody } {
  if (e instanceof DatasetValidationError) {
    const body = errorBody(e.message, 'invalid_request_error', 'file', 'invalid_file');
    body.error.problems = e.problems;
    if (e.omitted > 0) body.error.problems_omitted = e.omitted;
    return { status: 400, body };
  }
  if (e instanceof FactoryError) {
    const body = errorBody(e.message, e.status >= 500 ? 'server_error' : 'invalid_request_error', e.param, e.code);
    if (e.problems.length) body.error.problems = e.problems;
    return { status: e.status, body };
  }
  if (e instanceof DataError) return { status: e.status, body: errorBody(e.message, 'invalid_request_error', e.param, e.code) };
  if (e instanceof ApiError) return { status: e.status, body: errorBody(e.message, e.type, e.param, e.code) };
  const fe = e as FastifyError;
  if (fe?.code === 'FST_REQ_FILE_TOO_LARGE' || fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, body: errorBody(fe.message, 'invalid_request_error', 'file', 'file_too_large') };
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: errorBody(fe.message, 'invalid_request_error', null, fe.code ?? null) };
  }
  return { status: 500, body: errorBody('The server had an error while processing your request.', 'server_error', null, null) };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toApiError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, code: body.error.code }, body.error.message.split('\n')[0]);
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(errorBody(`Unknown request URL: ${req.method} ${req.url}.`, 'invalid_request_error', null, 'unknown_url'));
  });
}
