/**
 * The one error type every stage throws when a caller did something wrong (or a dependency failed) and the caller
 * should be told so: an HTTP status plus OpenAI's `type`, `code` and `param`. Stages know nothing about HTTP
 * frameworks; `src/api/errors.ts` maps any `StatusError` (and the few framework errors) to OpenAI's error body in
 * one place.
 *
 *   throw new StatusError(404, `No dataset named '${name}'.`, { code: 'dataset_not_found', param: 'dataset' });
 *
 * Subclasses exist only where a caller needs to tell one failure from another (`instanceof`) or where an error
 * carries more than the four fields (a validation error's `problems`).
 */
export interface StatusErrorFields {
  /** OpenAI's error type; defaults to `server_error` for 5xx, `rate_limit_error` for 429, `invalid_request_error` otherwise. */
  type?: string;
  code?: string | null;
  param?: string | null;
  /** The error this one reports (kept for logs, never shown to the caller). */
  cause?: unknown;
}

/** The type OpenAI's clients expect for a status. */
export function defaultErrorType(status: number): string {
  return status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error';
}

export class StatusError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;

  constructor(status: number, message: string, fields: StatusErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.status = status;
    this.type = fields.type ?? defaultErrorType(status);
    this.code = fields.code ?? null;
    this.param = fields.param ?? null;
  }
}

/** True for any error that carries a status in StatusError's shape (including ones thrown by another copy of this module). */
export function isStatusError(e: unknown): e is StatusError {
  return e instanceof StatusError || (e instanceof Error && typeof (e as Partial<StatusError>).status === 'number' && typeof (e as Partial<StatusError>).type === 'string');
}

/** One problem of a validation: where (file, line, JSON path) and why. The dataset and experiment validators' shape. */
export interface ProblemDetail {
  file: string;
  line?: number;
  path?: string;
  message: string;
}

/**
 * A request that failed validation, with every problem found (a dataset file, an experiment): the API adds
 * `problems` (and `problems_omitted` when the list was capped) to OpenAI's error body.
 */
export class ValidationError extends StatusError {
  readonly problems: ProblemDetail[];
  /** How many more problems there were beyond `problems`. */
  readonly omitted: number;

  constructor(status: number, message: string, fields: StatusErrorFields = {}, problems: ProblemDetail[] = [], omitted = 0) {
    super(status, message, fields);
    this.problems = problems;
    this.omitted = omitted;
  }
}
