import { UnrecoverableError } from 'bullmq';
import { isDataException } from '../db/pg-errors.js';
import { isErrorCode, type ErrorCode } from '../domain/errors.js';

/**
 * How a job fails for good with a stable code, and how that code is read back: BullMQ keeps only the error's message
 * (`failedReason`), so the code travels in it as `code: text`. The workers write it, the job status and the metrics
 * read it.
 */
export const failJob = (code: ErrorCode, message: string): UnrecoverableError => new UnrecoverableError(`${code}: ${message}`);

/** Not retried by BullMQ: thrown by failJob (or as an UnrecoverableError from another realm, by its name). */
export const isUnrecoverable = (err: unknown): boolean => err instanceof UnrecoverableError || (err as Error)?.name === 'UnrecoverableError';

/** The code and text of a reason written by failJob; undefined for any other reason. */
export function failureOf(reason: string | undefined): { code: ErrorCode; message: string } | undefined {
  const m = reason?.match(/^([a-z_]+): (.*)$/s);
  return m?.[1] && m[2] !== undefined && isErrorCode(m[1]) ? { code: m[1], message: m[2] } : undefined;
}

/**
 * What to say when Postgres refused the data a job would store (SQLSTATE class 22: out of range, too long), else
 * undefined. Such a job fails `internal_error` at once: every retry would carry the same data.
 */
export function refusedDataMessage(err: unknown, what: string): string | undefined {
  return isDataException(err) ? `${what} could not be stored: ${(err as Error).message.split(' - ').pop()}` : undefined;
}
