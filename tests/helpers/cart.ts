import { expect } from 'vitest';
import { admin, hourlySlot } from './factories.js';
import type { Stack, TestUser } from './stack.js';

/** Adds a slot to `user`'s cart and waits for the job (Prefer: wait). */
export function addItem(
  stack: Stack,
  user: TestUser,
  spaceId: string,
  window = hourlySlot(48),
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return stack.request('POST', '/api/v1/booking/cart/add-item', {
    as: user,
    wait: 10,
    headers,
    body: { spaceId, bookingType: 'hourly', ...window, ...extra },
  });
}

/** Adds an item and asserts its job completed; returns the item id. */
export async function holdSlot(stack: Stack, user: TestUser, spaceId: string, window = hourlySlot(48), extra: Record<string, unknown> = {}) {
  const res = await addItem(stack, user, spaceId, window, extra);
  expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed', result: { status: 'held' } });
  return res.body.result.itemId as string;
}

export function checkout(stack: Stack, user: TestUser, body?: Record<string, unknown>, headers: Record<string, string> = {}) {
  return stack.request('POST', '/api/v1/booking/cart/checkout', { as: user, wait: 10, headers, ...(body ? { body } : {}) });
}

export const getCart = (stack: Stack, user: TestUser) => stack.request('GET', '/api/v1/booking/cart', { as: user });

/**
 * Moves the expiry of holds into the past, as time passing would (the worker judges expiry by the command's
 * request time, so this is the clock moving on without a test waiting for it).
 */
export async function ageHolds(stack: Stack, where: { spaceId?: string; userId?: string }) {
  const conditions = [`r."kind" = 'hold'`];
  const params: unknown[] = [];
  if (where.spaceId) {
    params.push(where.spaceId);
    conditions.push(`r."space_id" = ?`);
  }
  if (where.userId) {
    params.push(where.userId);
    conditions.push(`exists (select 1 from "cart_items" i join "carts" c on c."id" = i."cart_id" where i."reservation_id" = r."id" and c."user_id" = ?)`);
  }
  const res = await stack.orm.em
    .fork()
    .getConnection()
    .execute(`update "reservations" r set "expires_at" = now() - interval '1 second' where ${conditions.join(' and ')}`, params, 'run');
  return res.affectedRows;
}

/** A promo code through the admin API. */
export async function createPromo(stack: Stack, workspaceId: string, body: Record<string, unknown>) {
  const res = await stack.request('POST', `/api/v1/workspaces/${workspaceId}/promo-codes`, { as: admin, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}
