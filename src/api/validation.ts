import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { errorResponse, validationError, zodIssues } from './errors.js';

/**
 * zod-openapi's hook for failed request validation: 400 in the error envelope with the field paths. Paths are
 * prefixed with where the field was (`query.page`, `headers.prefer`), except the body, whose paths are bare.
 */
export function validationHook(result: { success: boolean; error?: unknown; target?: string }, c: Context): Response | undefined {
  if (result.success) return undefined;
  const target = result.target;
  // Hono names the targets `param` and `header`; the paths say `params.id` and `headers.idempotency-key`.
  const prefix = target && target !== 'json' ? `${target === 'param' ? 'params' : target === 'header' ? 'headers' : target}.` : '';
  const issues = zodIssues(result.error as ZodError).map((i) => ({ ...i, path: prefix + i.path }));
  return errorResponse(c, validationError(issues));
}
