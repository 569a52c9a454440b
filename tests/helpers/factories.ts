import { expect } from 'vitest';
import type { Stack, TestUser } from './stack.js';
import { makeUser } from './stack.js';

export const admin = makeUser('admin', 'admin');

/** A workspace + space through the admin API (UTC unless told otherwise). */
export async function seedSpace(
  stack: Stack,
  opts: { timezone?: string; capacity?: number; taxRateBps?: number; rates?: Partial<Record<'hourlyRate' | 'dailyRate' | 'monthlyRate', number>> } = {},
) {
  const ws = await stack.request('POST', '/api/v1/workspaces', {
    as: admin,
    body: { name: 'Hub', timezone: opts.timezone ?? 'UTC', currency: 'EUR', taxRateBps: opts.taxRateBps ?? 1900 },
  });
  expect(ws.status, JSON.stringify(ws.body)).toBe(201);
  const space = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
    as: admin,
    body: {
      name: 'Room 1',
      kind: 'meeting_room',
      capacity: opts.capacity ?? 6,
      hourlyRate: 1500,
      dailyRate: 9000,
      monthlyRate: 150000,
      ...opts.rates,
    },
  });
  expect(space.status, JSON.stringify(space.body)).toBe(201);
  return { workspace: ws.body, space: space.body };
}

const QUARTER = 15 * 60_000;
const HOUR = 3_600_000;

/** An hourly window on the 15-minute grid, `hoursAhead` from now (UTC), lasting `hours`. */
export function hourlySlot(hoursAhead: number, hours = 1) {
  const start = Math.ceil((Date.now() + hoursAhead * HOUR) / QUARTER) * QUARTER;
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(start + hours * HOUR).toISOString() };
}

/**
 * A window starting at the next quarter hour, at most 15 minutes away, so check-in is already open. Right before
 * a boundary it first waits the boundary out, so the start cannot slip into the past before the API sees it.
 */
export async function startingSoon(hours = 1) {
  if (Math.ceil(Date.now() / QUARTER) * QUARTER - Date.now() < 3000) await new Promise((r) => setTimeout(r, 3500));
  const start = Math.ceil(Date.now() / QUARTER) * QUARTER;
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(start + hours * HOUR).toISOString() };
}

/** Creates a booking and waits for its job; returns the booking id and the job status. */
export async function createBooking(stack: Stack, user: TestUser, spaceId: string, window = hourlySlot(48), extra: Record<string, unknown> = {}) {
  const res = await stack.request('POST', '/api/v1/booking/bookings', {
    as: user,
    wait: 10,
    body: { spaceId, bookingType: 'hourly', ...window, ...extra },
  });
  return res;
}

/** Polls GET /jobs/:id until the job is completed or failed. */
export async function waitForJob(stack: Stack, user: TestUser, jobId: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await stack.request('GET', `/api/v1/jobs/${jobId}`, { as: user });
    if (res.status === 200 && (res.body.state === 'completed' || res.body.state === 'failed')) return res.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs a booking action (confirm, cancel, …) with Prefer: wait and returns the job status body. */
export async function act(stack: Stack, user: TestUser, bookingId: string, action: string, body?: unknown) {
  const res = await stack.request('POST', `/api/v1/booking/bookings/${bookingId}/${action}`, { as: user, wait: 10, ...(body ? { body } : {}) });
  return res;
}
