import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookingSchema, ReservationSchema } from '../../src/db/entities/index.js';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '10' } });
});
afterAll(() => stack?.close());

/** Fires every create at once (no waiting in between), then waits for all jobs. */
async function raceCreates(spaceId: string, windows: { startsAt: string; endsAt: string }[]) {
  const users = windows.map(() => makeUser('member'));
  const accepted = await Promise.all(
    windows.map((w, i) => stack.request('POST', '/api/v1/booking/bookings', { as: users[i]!, body: { spaceId, bookingType: 'hourly', ...w } })),
  );
  for (const a of accepted) expect(a.status).toBe(202);
  return Promise.all(accepted.map((a, i) => waitForJob(stack, users[i]!, a.body.jobId)));
}

const liveBookings = (spaceId: string) => stack.orm.em.fork().count(BookingSchema, { spaceId, status: { $ne: 'cancelled' }, deletedAt: null });

describe('no double booking (the EXCLUDE constraint decides, not the code)', () => {
  it('20 concurrent creates for one slot → exactly 1 booking, 19 jobs failed with slot_unavailable', async () => {
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(24);
    const jobs = await raceCreates(space.id, Array.from({ length: 20 }, () => slot));
    const completed = jobs.filter((j) => j.state === 'completed');
    const failed = jobs.filter((j) => j.state === 'failed');
    expect(completed).toHaveLength(1);
    expect(failed).toHaveLength(19);
    for (const f of failed) expect(f.error.code).toBe('slot_unavailable');
    // Refusals are not retried.
    for (const f of failed) expect(f.attemptsMade).toBe(1);
    expect(await liveBookings(space.id)).toBe(1);
    expect(await stack.orm.em.fork().count(ReservationSchema, { spaceId: space.id })).toBe(1);
  });

  it('overlapping but unequal intervals: only one of each overlapping group wins', async () => {
    const { space } = await seedSpace(stack);
    const base = Date.parse(hourlySlot(48).startsAt);
    const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
    // 09:00–11:00, 10:00–12:00, 10:30–10:45+… all overlap one another pairwise with the first.
    const windows = [
      { startsAt: at(0), endsAt: at(120) },
      { startsAt: at(60), endsAt: at(180) },
      { startsAt: at(90), endsAt: at(120) },
      { startsAt: at(-60), endsAt: at(15) },
      { startsAt: at(105), endsAt: at(240) },
    ];
    const jobs = await raceCreates(space.id, windows);
    const won = jobs.filter((j) => j.state === 'completed').length;
    expect(won).toBeGreaterThanOrEqual(1);
    for (const j of jobs.filter((j) => j.state === 'failed')) expect(j.error.code).toBe('slot_unavailable');
    // Whatever won, no two live claims overlap.
    const claims = await stack.orm.em.fork().find(ReservationSchema, { spaceId: space.id }, { orderBy: { startsAt: 'asc' } });
    expect(claims).toHaveLength(won);
    for (let i = 1; i < claims.length; i++) expect(claims[i]!.startsAt.getTime()).toBeGreaterThanOrEqual(claims[i - 1]!.endsAt.getTime());
  });

  it('back-to-back intervals (end == next start) both succeed', async () => {
    const { space } = await seedSpace(stack);
    const first = hourlySlot(72);
    const second = { startsAt: first.endsAt, endsAt: new Date(Date.parse(first.endsAt) + 3_600_000).toISOString() };
    const jobs = await raceCreates(space.id, [first, second]);
    expect(jobs.map((j) => j.state)).toEqual(['completed', 'completed']);
    expect(await liveBookings(space.id)).toBe(2);
  });

  it('the same slot on two different spaces is two bookings', async () => {
    const a = await seedSpace(stack);
    const b = await seedSpace(stack);
    const slot = hourlySlot(96);
    const users = [makeUser('member'), makeUser('member')];
    const res = await Promise.all(
      [a.space.id, b.space.id].map((spaceId, i) =>
        stack.request('POST', '/api/v1/booking/bookings', { as: users[i]!, wait: 10, body: { spaceId, bookingType: 'hourly', ...slot } }),
      ),
    );
    expect(res.map((r) => r.body.state)).toEqual(['completed', 'completed']);
  });
});
