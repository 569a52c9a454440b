/**
 * The one error type of the service. Every refusal carries a stable `code` that clients can switch on;
 * the HTTP layer (api/errors.ts) and the worker (jobs failing with the code) translate it, nothing else does.
 */
export const ERROR_CODES = [
  // request-level (HTTP)
  'validation_error',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'payload_too_large',
  'idempotency_key_reused',
  'service_unavailable',
  'internal_error',
  // command-level (job failures, shown by GET /jobs/:id)
  'slot_unavailable',
  'invalid_transition',
  'capacity_exceeded',
  'invalid_booking_time',
  'space_inactive',
  'invalid_payload',
  // carts, checkout, promo codes, reviews
  'cart_empty',
  'cart_workspace_mismatch',
  'promo_invalid',
  'promo_expired',
  'promo_exhausted',
  'payment_failed',
  'already_reviewed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
export const isErrorCode = (code: string): code is ErrorCode => (ERROR_CODES as readonly string[]).includes(code);

/** A field-level problem, `path` in dotted form (`guests.0.email`). */
export interface FieldIssue {
  path: string;
  message: string;
}

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldIssue[] | Record<string, unknown>,
  ) {
    super(message);
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
