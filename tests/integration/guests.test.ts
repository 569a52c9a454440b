import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookingSchema, GuestSchema } from '../../src/db/entities/index.js';
import { addItem, checkout, holdSlot } from '../helpers/cart.js';
import { createBooking, hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let spaceId: string;
const CAPACITY = 4;
beforeAll(async () => {
  stack = await startStack();
  spaceId = (await seedSpace(stack, { capacity: CAPACITY })).space.id;
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const guests = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `Guest ${i}`, email: `guest${i}@example.test` }));

describe('guests: listed on a booking, counted toward capacity (attendees + guests ≤ capacity)', () => {
  it('a booking with guests stores them and shows them in its detail', async () => {
    const member = makeUser('member');
    const res = await createBooking(stack, member, spaceId, hourlySlot(24), { attendees: 2, guests: guests(2) });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
    const id = res.body.result.bookingId;
    expect(await em().count(GuestSchema, { bookingId: id })).toBe(2);
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    expect(detail.body.guests).toEqual([
      { id: expect.any(String), name: 'Guest 0', email: 'guest0@example.test' },
      { id: expect.any(String), name: 'Guest 1', email: 'guest1@example.test' },
    ]);
    // Without guests the list is empty.
    const plain = await createBooking(stack, member, spaceId, hourlySlot(26));
    expect((await stack.request('GET', `/api/v1/booking/bookings/${plain.body.result.bookingId}`, { as: member })).body.guests).toEqual([]);
  });

  it('guests over capacity are 400 at the API (path guests), for bookings and cart items alike', async () => {
    const member = makeUser('member');
    const booking = await createBooking(stack, member, spaceId, hourlySlot(30), { attendees: 2, guests: guests(3) });
    expect(booking.status).toBe(400);
    expect(booking.body.error).toMatchObject({ code: 'validation_error', details: [{ path: 'guests', message: expect.stringContaining('capacity of 4') }] });
    const item = await addItem(stack, member, spaceId, hourlySlot(30), { attendees: 1, guests: guests(4) });
    expect(item.status).toBe(400);
    expect(item.body.error.details[0].path).toBe('guests');
  });

  it('refuses malformed guest lists at the API: bad email, duplicates, more than 20, unknown keys', async () => {
    const member = makeUser('member');
    const big = (await seedSpace(stack, { capacity: 100 })).space.id;
    const cases: [unknown, string][] = [
      [[{ name: 'Ada', email: 'not-an-email' }], 'guests.0.email'],
      [[{ name: 'Ada', email: 'ada@example.test' }, { name: 'Ada L.', email: 'ADA@example.test' }], 'guests.1.email'],
      [guests(21), 'guests'],
      [[{ name: 'Ada', email: 'ada@example.test', phone: '123' }], 'guests.0.phone'],
      [[{ name: '', email: 'ada@example.test' }], 'guests.0.name'],
    ];
    for (const [list, path] of cases) {
      const res = await createBooking(stack, member, big, hourlySlot(40), { guests: list });
      expect(res.status, path).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path), path).toContain(path);
    }
    expect(await em().count(BookingSchema, { userId: member.id })).toBe(0);
  });

  it('the worker refuses too (capacity_exceeded), whatever reached the queue', async () => {
    const member = makeUser('member');
    const window = hourlySlot(50);
    const job = await stack.queues.commands.add('booking.create', {
      bookingId: crypto.randomUUID(),
      spaceId,
      bookingType: 'hourly',
      ...window,
      attendees: 1,
      notes: null,
      guests: guests(CAPACITY),
      actor: { id: member.id, role: 'member' },
      requestedAt: new Date().toISOString(),
    });
    // The API upserts users; this job bypassed it, so create the user row the booking would reference.
    await stack.request('GET', '/api/v1/booking/cart', { as: member });
    const status = await waitForJob(stack, member, job.id!);
    expect(status).toMatchObject({ state: 'failed', error: { code: 'capacity_exceeded' } });
    expect(await em().count(BookingSchema, { userId: member.id })).toBe(0);
  });

  it('PATCHing attendees counts the booking\'s guests', async () => {
    const member = makeUser('member');
    const res = await createBooking(stack, member, spaceId, hourlySlot(60), { attendees: 1, guests: guests(2) });
    const id = res.body.result.bookingId;
    const tooMany = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, body: { attendees: 3 } });
    expect(tooMany.status).toBe(400);
    // The field the request sent, not the guests it did not.
    expect(tooMany.body.error.details).toEqual([{ path: 'attendees', message: expect.stringContaining('2 guests') }]);
    const fits = await stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10, body: { attendees: 2 } });
    expect(fits.body).toMatchObject({ state: 'completed' });
  });

  it('cart items carry guests, and checkout moves them to the booking', async () => {
    const member = makeUser('member');
    const itemId = await holdSlot(stack, member, spaceId, hourlySlot(70), { attendees: 1, guests: guests(3) });
    expect((await stack.request('GET', '/api/v1/booking/cart', { as: member })).body.items[0].guests).toHaveLength(3);
    expect(await em().count(GuestSchema, { cartItemId: itemId })).toBe(3);
    const res = await checkout(stack, member);
    expect(res.body).toMatchObject({ state: 'completed' });
    const [bookingId] = res.body.result.bookingIds;
    expect(await em().count(GuestSchema, { bookingId })).toBe(3);
    expect(await em().count(GuestSchema, { cartItemId: itemId })).toBe(0);
  });
});
