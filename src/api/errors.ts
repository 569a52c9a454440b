import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../db/pg-errors.js';
import { DomainError, isDomainError, type ErrorCode, type FieldIssue } from '../domain/errors.js';
import { isRedisUnavailable } from '../redis.js';

/** HTTP status of each code when it is answered synchronously. Command-level codes met at the API are bad input. */
const STATUS: Record<ErrorCode, 400 | 401 | 403 | 404 | 405 | 409 | 413 | 422 | 500 | 503> = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  idempotency_key_reused: 422,
  service_unavailable: 503,
  internal_error: 500,
  slot_unavailable: 409,
  invalid_transition: 409,
  capacity_exceeded: 400,
  invalid_booking_time: 400,
  space_inactive: 409,
  invalid_payload: 400,
  cart_empty: 409,
  cart_workspace_mismatch: 409,
  promo_invalid: 422,
  promo_expired: 422,
  promo_exhausted: 409,
  payment_failed: 422,
  already_reviewed: 409,
};

export const httpStatusOf = (code: ErrorCode) => STATUS[code];

const dotted = (path: PropertyKey[]) => path.map(String).join('.') || '(body)';

export function zodIssues(error: ZodError): FieldIssue[] {
  // An unknown key (strict objects) is reported at the key itself, not at the object that holds it.
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: dotted([...i.path, key]), message: 'Unrecognized key' }))
      : [{ path: dotted(i.path), message: i.message }],
  );
}

export const validationError = (issues: FieldIssue[], message = 'Request validation failed') =>
  new DomainError('validation_error', message, issues);

/** What hono/validator throws (HTTPException 400) for a JSON body that does not parse. */
const MALFORMED_JSON = 'Malformed JSON in request body';

/**
 * The one translator from anything thrown to the error envelope `{error: {code, message, details?}}`.
 * Outages of Postgres or Redis are 503 (retry later), never 500.
 */
export function toErrorResponse(err: unknown): { status: number; body: { error: { code: ErrorCode; message: string; details?: unknown } } } {
  let e: DomainError;
  if (isDomainError(err)) {
    // Time and capacity rules checked before enqueueing are field validation from the client's point of view.
    e =
      err.code === 'invalid_booking_time' || err.code === 'capacity_exceeded'
        ? new DomainError('validation_error', err.message, err.details)
        : err;
  } else if (err instanceof HTTPException) {
    const status = err.status;
    const code: ErrorCode =
      status === 401 ? 'unauthorized' : status === 413 ? 'payload_too_large' : status === 404 ? 'not_found' : status === 403 ? 'forbidden' : status < 500 ? 'validation_error' : 'internal_error';
    // Hono's JSON validator refuses a body it cannot parse with this message, and zod-openapi a body of another media
    // type with a 415: each is a 400 that names the field, the body or its Content-Type.
    const details =
      status === 400 && err.message === MALFORMED_JSON
        ? [{ path: '(body)', message: 'Malformed JSON' }]
        : status === 415
          ? [{ path: 'headers.content-type', message: 'must be application/json' }]
          : undefined;
    e = new DomainError(code, err.message || 'Request refused', details);
  } else if (isDatabaseUnavailable(err) || isRedisUnavailable(err)) {
    e = new DomainError('service_unavailable', 'A backing service is unavailable; retry shortly');
  } else {
    e = new DomainError('internal_error', 'Internal error');
  }
  return { status: STATUS[e.code], body: { error: e.toJSON() as { code: ErrorCode; message: string; details?: unknown } } };
}

export function errorResponse(c: Context, err: unknown): Response {
  const { status, body } = toErrorResponse(err);
  if (status === 503) c.header('Retry-After', '5');
  return c.json(body, status as 400);
}
