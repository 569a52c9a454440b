import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { BookingEventSchema, BookingSchema, OutboxSchema, ProcessedCommandSchema, ReservationSchema } from '../../src/db/entities/index.js';
import { executeCommand } from '../../src/commands/run-command.js';
import { act, createBooking, hourlySlot, seedSpace, startingSoon, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let spaceId: string;
let workspaceId: string;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack();
  const seeded = await seedSpace(stack);
  spaceId = seeded.space.id;
  workspaceId = seeded.workspace.id;
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();

describe('booking lifecycle through HTTP → queue → worker → Postgres', () => {
  it('creates a pending booking: 202 with ids at once, then the job completes with the result', async () => {
    const window = hourlySlot(24, 2);
    const res = await stack.request('POST', '/api/v1/booking/bookings', {
      as: member,
      body: { spaceId, bookingType: 'hourly', ...window, attendees: 3, notes: 'standup' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ jobId: expect.any(String), bookingId: expect.any(String), statusUrl: `/api/v1/jobs/${res.body.jobId}` });
    expect(res.headers.get('location')).toBe(res.body.statusUrl);

    const job = await waitForJob(stack, member, res.body.jobId);
    expect(job).toMatchObject({ id: res.body.jobId, name: 'booking.create', state: 'completed', result: { bookingId: res.body.bookingId, status: 'pending' } });
    expect(job.finishedAt).toEqual(expect.any(String));

    const detail = await stack.request('GET', `/api/v1/booking/bookings/${res.body.bookingId}`, { as: member });
    expect(detail.status).toBe(200);
    // 2 started hours × 1500 = 3000, 19% tax = 570.
    expect(detail.body).toMatchObject({
      id: res.body.bookingId,
      userId: member.id,
      workspaceId,
      spaceId,
      status: 'pending',
      attendees: 3,
      notes: 'standup',
      basePrice: 3000,
      taxAmount: 570,
      totalPrice: 3570,
      currency: 'EUR',
      startsAt: window.startsAt,
      endsAt: window.endsAt,
      daysUsed: 0,
      daysRemaining: expect.any(Number),
    });

    // One transaction wrote the claim, the audit row, the outbox event and the inbox row.
    const fork = em();
    expect(await fork.count(ReservationSchema, { bookingId: res.body.bookingId })).toBe(1);
    expect(await fork.find(BookingEventSchema, { bookingId: res.body.bookingId })).toMatchObject([{ action: 'create', fromStatus: null, toStatus: 'pending', actorId: member.id, commandId: res.body.jobId }]);
    const outbox = await fork.find(OutboxSchema, { aggregateId: res.body.bookingId });
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ eventType: 'BOOKING_CREATED', payload: { bookingId: res.body.bookingId, userEmail: member.email, spaceName: 'Room 1', workspaceName: 'Hub' } });
    expect(await fork.findOne(ProcessedCommandSchema, res.body.jobId)).toMatchObject({ outcome: 'completed', userId: member.id });
  });

  it('runs pending → confirmed → active → completed with timestamps, audit rows and events', async () => {
    const created = await createBooking(stack, member, spaceId, await startingSoon(1));
    expect(created.status).toBe(200);
    expect(created.body.state).toBe('completed');
    const id = created.body.result.bookingId;

    const confirmed = await act(stack, staff, id, 'confirm');
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ state: 'completed', result: { bookingId: id, status: 'confirmed' } });

    const checkedIn = await act(stack, member, id, 'check-in');
    expect(checkedIn.body).toMatchObject({ state: 'completed', result: { status: 'active' } });
    const checkedOut = await act(stack, member, id, 'check-out');
    expect(checkedOut.body).toMatchObject({ state: 'completed', result: { status: 'completed' } });

    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body).toMatchObject({ status: 'completed', noShow: false, checkedInAt: expect.any(String), checkedOutAt: expect.any(String) });
    const events = await em().find(BookingEventSchema, { bookingId: id }, { orderBy: { at: 'asc', action: 'asc' } });
    expect(events.map((e) => `${e.fromStatus}->${e.toStatus}`).sort()).toEqual(
      ['null->pending', 'pending->confirmed', 'confirmed->active', 'active->completed'].sort(),
    );
    const types = (await em().find(OutboxSchema, { aggregateId: id })).map((o) => o.eventType).sort();
    expect(types).toEqual(['BOOKING_CHECKED_IN', 'BOOKING_CHECKED_OUT', 'BOOKING_CONFIRMED', 'BOOKING_CREATED']);
  });

  it('staff complete an active booking', async () => {
    // A space of its own: the previous test's completed booking still holds this hour on the first one.
    const { space } = await seedSpace(stack);
    const id = (await createBooking(stack, member, space.id, await startingSoon(1))).body.result.bookingId;
    await act(stack, staff, id, 'confirm');
    await act(stack, staff, id, 'check-in');
    const done = await act(stack, staff, id, 'complete');
    expect(done.body).toMatchObject({ state: 'completed', result: { status: 'completed' } });
    const outbox = await em().find(OutboxSchema, { aggregateId: id, eventType: 'BOOKING_COMPLETED' });
    expect(outbox).toHaveLength(1);
    // The zone its times are told in travels with the event.
    expect(outbox[0]!.payload).toMatchObject({ workspaceTimezone: 'UTC' });
    // Completing it checked its party out.
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body).toMatchObject({ status: 'completed', checkedInAt: expect.any(String), checkedOutAt: expect.any(String) });
  });

  it('a check-out before the end frees the rest of the slot for others; one before the start keeps it whole', async () => {
    const { space } = await seedSpace(stack);
    const window = await startingSoon(1);
    const start = Date.parse(window.startsAt);
    const at = (minutes: number) => new Date(start + minutes * 60_000).toISOString();
    const id = (await createBooking(stack, member, space.id, window)).body.result.bookingId;
    await act(stack, staff, id, 'confirm');
    // Checked in and out 5 and 20 minutes into the hour: the commands run as of those instants (a command's clock is
    // its requestedAt), the HTTP API's clock is still before the start.
    const run = (name: 'booking.check-in' | 'booking.check-out', minutes: number) =>
      executeCommand(stack.orm, { id: `${name}-${id}`, name, data: { actor: { id: member.id, role: 'member' }, requestedAt: at(minutes), bookingId: id } });
    expect(await run('booking.check-in', 5)).toMatchObject({ outcome: 'completed', result: { status: 'active' } });
    expect(await run('booking.check-out', 20)).toMatchObject({ outcome: 'completed', result: { status: 'completed' } });
    const claim = await em().findOneOrFail(ReservationSchema, { bookingId: id });
    expect([claim.startsAt.toISOString(), claim.endsAt.toISOString()]).toEqual([window.startsAt, at(20)]);
    // The booking itself keeps what was booked (and billed).
    expect((await em().findOneOrFail(BookingSchema, id)).endsAt.toISOString()).toBe(window.endsAt);

    const other = makeUser('member');
    expect((await createBooking(stack, other, space.id, { startsAt: at(15), endsAt: at(45) })).body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    expect((await createBooking(stack, other, space.id, { startsAt: at(30), endsAt: at(60) })).body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    const busy = await stack.request('GET', `/api/v1/spaces/${space.id}/availability?from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(60))}`, { as: member });
    expect(busy.body.busy).toEqual([
      { startsAt: at(0), endsAt: at(20), kind: 'booking' },
      { startsAt: at(30), endsAt: at(60), kind: 'booking' },
    ]);

    // Checked in early and out again before the start (the HTTP clock): the claim stays whole.
    const second = await seedSpace(stack);
    const early = (await createBooking(stack, member, second.space.id, await startingSoon(1))).body.result.bookingId;
    await act(stack, staff, early, 'confirm');
    await act(stack, member, early, 'check-in');
    expect((await act(stack, member, early, 'check-out')).body).toMatchObject({ state: 'completed', result: { status: 'completed' } });
    const whole = await em().findOneOrFail(ReservationSchema, { bookingId: early });
    const booked = await em().findOneOrFail(BookingSchema, early);
    expect([whole.startsAt, whole.endsAt]).toEqual([booked.startsAt, booked.endsAt]);
  });

  it('cancels with a reason, frees the slot, and the slot can be booked again', async () => {
    const window = hourlySlot(30);
    const id = (await createBooking(stack, member, spaceId, window)).body.result.bookingId;
    const cancelled = await act(stack, member, id, 'cancel', { reason: 'plans changed' });
    expect(cancelled.body).toMatchObject({ state: 'completed', result: { status: 'cancelled' } });
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body).toMatchObject({ status: 'cancelled', cancellationReason: 'plans changed', cancelledAt: expect.any(String) });
    const event = await em().findOneOrFail(OutboxSchema, { aggregateId: id, eventType: 'BOOKING_CANCELLED' });
    expect(event.payload).toMatchObject({ reason: 'plans changed' });
    expect(await em().count(ReservationSchema, { bookingId: id })).toBe(0);

    const again = await createBooking(stack, makeUser('member'), spaceId, window);
    expect(again.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  });

  it('refuses invalid transitions with invalid_transition, not retried, and changes nothing', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(40))).body.result.bookingId;
    // pending → check-out is not a transition.
    const res = await act(stack, member, id, 'check-out');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition', message: expect.stringContaining('pending') } });
    expect(res.body.attemptsMade).toBe(1);
    // Check-in far before the window opens.
    await act(stack, staff, id, 'confirm');
    const early = await act(stack, member, id, 'check-in');
    expect(early.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body.status).toBe('confirmed');
    // The refusal is recorded in the inbox too, so GET /jobs keeps answering after BullMQ trims the job.
    expect(await em().findOne(ProcessedCommandSchema, early.body.id)).toMatchObject({ outcome: 'failed', error: { code: 'invalid_transition' } });
  });

  it('PATCH changes notes and attendees, and reschedules with a new price', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(50))).body.result.bookingId;
    const notes = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10, body: { notes: 'bring a projector', attendees: 5 } });
    expect(notes.body).toMatchObject({ state: 'completed' });
    const moved = hourlySlot(60, 3);
    const reschedule = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10, body: moved });
    expect(reschedule.body).toMatchObject({ state: 'completed' });
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body).toMatchObject({ notes: 'bring a projector', attendees: 5, ...moved, basePrice: 4500, totalPrice: 4500 + 855 });
    const claim = await em().findOneOrFail(ReservationSchema, { bookingId: id });
    expect(claim.startsAt.toISOString()).toBe(moved.startsAt);
    expect(claim.endsAt.toISOString()).toBe(moved.endsAt);
  });

  it('a reschedule onto a taken slot fails with slot_unavailable and keeps the old time', async () => {
    const taken = hourlySlot(70);
    await createBooking(stack, makeUser('member'), spaceId, taken);
    const mine = hourlySlot(72);
    const id = (await createBooking(stack, member, spaceId, mine)).body.result.bookingId;
    const res = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10, body: taken });
    expect(res.body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body.startsAt).toBe(mine.startsAt);
  });

  it('DELETE removes a pending booking (then 404) and refuses a confirmed one', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(80))).body.result.bookingId;
    const del = await stack.request('DELETE', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10 });
    expect(del.body).toMatchObject({ state: 'completed', result: { bookingId: id, deleted: true } });
    expect((await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member })).status).toBe(404);
    expect(await em().count(ReservationSchema, { bookingId: id })).toBe(0);

    const kept = (await createBooking(stack, member, spaceId, hourlySlot(82))).body.result.bookingId;
    await act(stack, staff, kept, 'confirm');
    const refused = await stack.request('DELETE', `/api/v1/booking/bookings/${kept}`, { as: member, wait: 10 });
    expect(refused.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
  });

  it('lists own bookings with filters and pagination; staff see everyone', async () => {
    const other = makeUser('member');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createBooking(stack, other, spaceId, hourlySlot(100 + i * 2))).body.result.bookingId);
    await act(stack, staff, ids[0]!, 'confirm');

    const page1 = await stack.request('GET', '/api/v1/booking/bookings?page=1&pageSize=2', { as: other });
    expect(page1.body).toMatchObject({ page: 1, pageSize: 2, total: 3 });
    expect(page1.body.items).toHaveLength(2);
    const page2 = await stack.request('GET', '/api/v1/booking/bookings?page=2&pageSize=2', { as: other });
    expect(page2.body.items).toHaveLength(1);
    const seen = [...page1.body.items, ...page2.body.items].map((b: { id: string }) => b.id).sort();
    expect(seen).toEqual([...ids].sort());

    const confirmed = await stack.request('GET', '/api/v1/booking/bookings?status=confirmed', { as: other });
    expect(confirmed.body.items.map((b: { id: string }) => b.id)).toEqual([ids[0]]);
    // Several statuses, comma-separated, in any order and repeated.
    await act(stack, other, ids[1]!, 'cancel', { reason: 'changed plans' });
    for (const status of ['pending,confirmed', 'confirmed,pending,confirmed']) {
      const live = await stack.request('GET', `/api/v1/booking/bookings?status=${status}`, { as: other });
      expect(live.body.items.map((b: { id: string }) => b.id), status).toEqual([ids[2], ids[0]]);
    }
    expect((await stack.request('GET', '/api/v1/booking/bookings?status=cancelled', { as: other })).body.items.map((b: { id: string }) => b.id)).toEqual([ids[1]]);
    const bySpace = await stack.request('GET', `/api/v1/booking/bookings?spaceId=${spaceId}&bookingType=hourly&workspaceId=${workspaceId}`, { as: other });
    expect(bySpace.body.total).toBe(3);

    const all = await stack.request('GET', '/api/v1/booking/bookings?pageSize=100', { as: staff });
    const userIds = new Set(all.body.items.map((b: { userId: string }) => b.userId));
    expect(userIds.has(other.id) && userIds.has(member.id)).toBe(true);
    // Staff narrow to one member (any case); a member may name only themselves.
    const theirs = await stack.request('GET', `/api/v1/booking/bookings?userId=${other.id.toUpperCase()}&pageSize=100`, { as: staff });
    expect(theirs.body.items.map((b: { id: string }) => b.id).sort()).toEqual([...ids].sort());
    expect(theirs.body.total).toBe(3);
    expect((await stack.request('GET', `/api/v1/booking/bookings?userId=${other.id}`, { as: other })).body.total).toBe(3);
    const forbidden = await stack.request('GET', `/api/v1/booking/bookings?userId=${member.id}`, { as: other });
    expect([forbidden.status, forbidden.body.error.code]).toEqual([403, 'forbidden']);
    // Default page size is 10.
    expect((await stack.request('GET', '/api/v1/booking/bookings', { as: staff })).body.pageSize).toBe(10);
  });

  it('lists the bookings overlapping from–to, sorted by start if asked; a move shows in the filtered list at once', async () => {
    const who = makeUser('member');
    const windows = [110, 106, 108].map((h) => hourlySlot(h)); // created in this order
    const ids: string[] = [];
    for (const w of windows) ids.push((await createBooking(stack, who, spaceId, w)).body.result.bookingId);
    const list = async (query: string) => {
      const res = await stack.request('GET', `/api/v1/booking/bookings?${query}`, { as: who });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.total).toBe(res.body.items.length);
      return res.body.items.map((b: { id: string }) => b.id);
    };
    const [late, early, middle] = ids as [string, string, string];
    expect(await list('')).toEqual([middle, early, late]); // newest created first
    expect(await list('sort=-createdAt')).toEqual([middle, early, late]);
    expect(await list('sort=startsAt')).toEqual([early, middle, late]);
    expect(await list('sort=-startsAt')).toEqual([late, middle, early]);
    const q = (from?: string, to?: string) =>
      [from && `from=${encodeURIComponent(from)}`, to && `to=${encodeURIComponent(to)}`, 'sort=startsAt'].filter(Boolean).join('&');
    expect(await list(q(windows[2]!.startsAt))).toEqual([middle, late]);
    expect(await list(q(undefined, windows[2]!.endsAt))).toEqual([early, middle]);
    expect(await list(q(windows[2]!.startsAt, windows[2]!.endsAt))).toEqual([middle]);
    // Half-open: a booking ending at `from`, or starting at `to`, is not in the window.
    expect(await list(q(windows[1]!.endsAt, windows[0]!.startsAt))).toEqual([middle]);
    // Any offset names the same instant.
    const inBerlin = DateTime.fromISO(windows[2]!.startsAt).setZone('Europe/Berlin').toISO({ includeOffset: true })!;
    expect(await list(q(inBerlin))).toEqual([middle, late]);

    // Moved past the others, the early booking leaves the window it was in and sorts last.
    const moved = hourlySlot(120);
    const patch = await stack.request('PATCH', `/api/v1/booking/bookings/${early}`, { as: who, wait: 10, body: moved });
    expect(patch.body).toMatchObject({ state: 'completed' });
    expect(await list(q(undefined, windows[2]!.endsAt))).toEqual([middle]);
    expect(await list('sort=startsAt')).toEqual([middle, late, early]);
  });

  it('availability shows the busy intervals of live claims only', async () => {
    const window = hourlySlot(200, 2);
    const id = (await createBooking(stack, member, spaceId, window)).body.result.bookingId;
    const from = new Date(Date.parse(window.startsAt) - 3_600_000).toISOString();
    const to = new Date(Date.parse(window.endsAt) + 3_600_000).toISOString();
    const busy = await stack.request('GET', `/api/v1/spaces/${spaceId}/availability?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { as: member });
    expect(busy.status).toBe(200);
    expect(busy.body.busy).toEqual([{ startsAt: window.startsAt, endsAt: window.endsAt, kind: 'booking' }]);
    await act(stack, member, id, 'cancel', { reason: 'no' });
    const free = await stack.request('GET', `/api/v1/spaces/${spaceId}/availability?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { as: member });
    expect(free.body.busy).toEqual([]);
  });
});

describe('a booking under way', () => {
  it('can be extended: an update of its end alone keeps its past start, and its claim grows with it', async () => {
    // A space of its own: the file's other tests book the slots starting soon on theirs.
    const { space } = await seedSpace(stack);
    const window = await startingSoon(1);
    const id = (await createBooking(stack, member, space.id, window)).body.result.bookingId as string;
    expect((await act(stack, staff, id, 'confirm')).body.state).toBe('completed');
    // Under way: moved an hour back, so it started up to 45 minutes ago and ends at the next quarter hour.
    const startsAt = new Date(Date.parse(window.startsAt) - 3_600_000);
    const endsAt = new Date(window.startsAt);
    await em().nativeUpdate(BookingSchema, { id }, { startsAt, endsAt });
    await em().nativeUpdate(ReservationSchema, { bookingId: id }, { startsAt, endsAt });

    const longer = new Date(endsAt.getTime() + 30 * 60_000).toISOString();
    const res = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, body: { endsAt: longer }, wait: 10 });
    expect(res.body.state).toBe('completed');
    const detail = (await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member })).body;
    expect(detail).toMatchObject({ startsAt: startsAt.toISOString(), endsAt: longer, status: 'confirmed' });
    const claim = await em().findOneOrFail(ReservationSchema, { bookingId: id });
    expect(claim.endsAt.toISOString()).toBe(longer);

    // Moving its start is still refused once it has passed.
    const moved = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, body: { startsAt: startsAt.toISOString(), endsAt: longer } });
    expect(moved.status).toBe(400);
    expect(moved.body.error.details).toEqual([{ path: 'startsAt', message: 'must not be in the past' }]);
  });
});
