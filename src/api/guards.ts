import type { Context } from 'hono';
import type { Role } from '../db/entities/index.js';
import { DomainError } from '../domain/errors.js';
import type { AppEnv } from './context.js';

const RANK: Record<Role, number> = { member: 0, staff: 1, admin: 2 };

/** 403 unless the caller's role is at least `min` (member < staff < admin). */
export function requireRole(c: Context<AppEnv>, min: Role): void {
  if (RANK[c.get('user').role] < RANK[min]) throw new DomainError('forbidden', `Requires the ${min} role`);
}
