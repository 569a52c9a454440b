import type { Context, MiddlewareHandler } from 'hono';
import type { Role } from '../db/entities/index.js';
import { DomainError } from '../domain/errors.js';
import type { AppEnv } from './context.js';

const RANK: Record<Role, number> = { member: 0, staff: 1, admin: 2 };

/** 403 unless the caller's role is at least `min` (member < staff < admin). */
function requireRole(c: Context<AppEnv>, min: Role): void {
  if (RANK[c.get('user').role] < RANK[min]) throw new DomainError('forbidden', `Requires the ${min} role`);
}

/**
 * requireRole as a route's middleware (`createRoute({ middleware: [requires('admin')] })`): it runs before the
 * request's parts are validated, so a caller without the role gets 403 whatever it sent, never a 400 about a body
 * it may not send at all.
 */
export const requires =
  (min: Role): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    requireRole(c, min);
    await next();
  };
