import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookingEventSchema, BookingSchema, OutboxSchema, ReservationSchema } from '../../src/db/entities/index.js';
import { runSweep } from '../../src/maintenance/sweeps.js';
import { act, createBooking, hourlySlot, seedSpace, startingSoon } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const booking = (id: string) => em().findOneOrFail(BookingSchema, id);

describe('scheduler sweeps (clock injected, no real waiting)', () => {
  it('auto-completes active and confirmed bookings past their end (confirmed ones as no-shows) and expires pending ones', async () => {
    const { space } = await seedSpace(stack);
    const soon = await startingSoon(1);
    const active = (await createBooking(stack, member, space.id, soon)).body.result.bookingId;
    await act(stack, staff, active, 'confirm');
    expect((await act(stack, member, active, 'check-in')).body.result.status).toBe('active');
    const confirmed = (await createBooking(stack, member, space.id, hourlySlot(5))).body.result.bookingId;
    await act(stack, staff, confirmed, 'confirm');
    const pending = (await createBooking(stack, member, space.id, hourlySlot(8))).body.result.bookingId;
    const future = (await createBooking(stack, member, space.id, hourlySlot(200))).body.result.bookingId;

    const later = new Date(Date.now() + 24 * 3_600_000);
    expect(await runSweep(stack.orm, 'sweep.auto-complete', later)).toBe(2);
    expect(await runSweep(stack.orm, 'sweep.expire', later)).toBe(1);

    expect(await booking(active)).toMatchObject({ status: 'completed', noShow: false });
    expect(await booking(confirmed)).toMatchObject({ status: 'completed', noShow: true });
    expect(await booking(pending)).toMatchObject({ status: 'cancelled', cancellationReason: 'expired' });
    expect((await booking(future)).status).toBe('pending');
    // Same transition code as commands: audit rows (no actor), events, claims released on expiry.
    expect(await em().findOne(BookingEventSchema, { bookingId: confirmed, toStatus: 'completed' })).toMatchObject({ action: 'auto_complete', actorId: null, commandId: null });
    expect(await em().count(OutboxSchema, { aggregateId: confirmed, eventType: 'BOOKING_COMPLETED' })).toBe(1);
    expect(await em().findOne(OutboxSchema, { aggregateId: pending, eventType: 'BOOKING_CANCELLED' })).toMatchObject({ payload: { reason: 'expired' } });
    expect(await em().count(ReservationSchema, { bookingId: pending })).toBe(0);

    // Idempotent: running again moves nothing and writes no more events.
    expect(await runSweep(stack.orm, 'sweep.auto-complete', later)).toBe(0);
    expect(await runSweep(stack.orm, 'sweep.expire', later)).toBe(0);
    expect(await em().count(OutboxSchema, { aggregateId: confirmed, eventType: 'BOOKING_COMPLETED' })).toBe(1);
  });

  it("retries a failed eviction in the sweep, which no later run redoes; past its retries the sweep fails", async () => {
    const { space } = await seedSpace(stack);
    const flaky = (await createBooking(stack, member, space.id, hourlySlot(600))).body.result.bookingId;
    const later = new Date(Date.now() + 700 * 3_600_000);
    let calls = 0;
    const evicted: string[][] = [];
    const failingTwice = {
      afterCommit: async (effects: { bookingIds: Set<string> }) => {
        calls++;
        if (calls <= 2) throw new Error('cache Redis unreachable');
        evicted.push([...effects.bookingIds]);
      },
    };
    expect(await runSweep(stack.orm, 'sweep.expire', later, failingTwice as never, 200, [1, 1])).toBeGreaterThanOrEqual(1);
    expect(calls).toBe(3);
    expect(evicted.flat()).toContain(flaky);

    // Past its retries the job fails, with the batch committed (the entries then expire with their TTL).
    const stuck = (await createBooking(stack, member, space.id, hourlySlot(610))).body.result.bookingId;
    let attempts = 0;
    const down = { afterCommit: async () => void (attempts++, await Promise.reject(new Error('cache Redis down'))) };
    await expect(runSweep(stack.orm, 'sweep.expire', later, down as never, 200, [1, 1])).rejects.toThrow('cache Redis down');
    expect(attempts).toBe(3);
    expect((await booking(stuck)).status).toBe('cancelled');
  });

  it('works in batches', async () => {
    const { space } = await seedSpace(stack);
    for (let i = 0; i < 5; i++) await createBooking(stack, member, space.id, hourlySlot(300 + i * 2));
    const later = new Date(Date.now() + 400 * 3_600_000);
    expect(await runSweep(stack.orm, 'sweep.expire', later, {}, 2)).toBeGreaterThanOrEqual(5);
    expect(await em().count(BookingSchema, { spaceId: space.id, status: 'pending' })).toBe(0);
  });
});
