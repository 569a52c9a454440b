import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeCommand } from '../../src/commands/run-command.js';
import {
  BookingEventSchema,
  BookingSchema,
  CartItemSchema,
  CartSchema,
  CheckoutSchema,
  GuestSchema,
  OutboxSchema,
  ReservationSchema,
} from '../../src/db/entities/index.js';
import { sweepAbandonedCarts, sweepExpiredHolds } from '../../src/maintenance/cart-sweeps.js';
import { addItem, ageHolds, checkout, getCart, holdSlot } from '../helpers/cart.js';
import { admin, createBooking, hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '10' } });
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const holdsOn = (spaceId: string) => em().count(ReservationSchema, { spaceId, kind: 'hold' });
/** Every job the commands queue holds, in any state (a refused request must not add one). */
async function queuedTotal(): Promise<number> {
  const counts = await stack.queues.commands.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}
const bookingsOf = (userId: string) => em().find(BookingSchema, { userId }, { orderBy: { startsAt: 'asc' } });

describe('cart: add-item places a hold in the claims table', () => {
  it('answers 202 with the item id, then shows the item with prices, totals and the hold expiry', async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    const window = hourlySlot(24, 2);
    const res = await stack.request('POST', '/api/v1/booking/cart/add-item', {
      as: member,
      body: { spaceId: space.id, bookingType: 'hourly', ...window, attendees: 2, notes: 'offsite' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ jobId: expect.any(String), itemId: expect.any(String), statusUrl: `/api/v1/jobs/${res.body.jobId}` });
    const job = await waitForJob(stack, member, res.body.jobId);
    expect(job).toMatchObject({ name: 'cart.add-item', state: 'completed', result: { itemId: res.body.itemId, status: 'held', cartId: expect.any(String) } });

    const cart = await getCart(stack, member);
    expect(cart.status).toBe(200);
    // 2 started hours × 1500 = 3000, 19 % tax = 570: the same pricing module as bookings.
    expect(cart.body).toMatchObject({
      id: job.result.cartId,
      status: 'active',
      workspaceId: workspace.id,
      currency: 'EUR',
      totals: { basePrice: 3000, discountAmount: 0, taxAmount: 570, totalPrice: 3570 },
      items: [
        {
          id: res.body.itemId,
          spaceId: space.id,
          spaceName: 'Room 1',
          ...window,
          attendees: 2,
          notes: 'offsite',
          guests: [],
          basePrice: 3000,
          taxAmount: 570,
          totalPrice: 3570,
          holdStatus: 'held',
          holdExpiresAt: job.result.holdExpiresAt,
        },
      ],
    });
    // The hold lasts CART_HOLD_MINUTES (15) from the request.
    const ms = Date.parse(job.result.holdExpiresAt) - Date.parse(job.createdAt);
    expect(ms).toBeGreaterThan(14 * 60_000);
    expect(ms).toBeLessThanOrEqual(15 * 60_000 + 1000);

    // A held slot is a claim like a booking: nobody else can book it, and availability shows it.
    const other = await createBooking(stack, makeUser('member'), space.id, window);
    expect(other.body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    const avail = await stack.request('GET', `/api/v1/spaces/${space.id}/availability?from=${encodeURIComponent(window.startsAt)}&to=${encodeURIComponent(window.endsAt)}`, { as: member });
    expect(avail.body.busy).toEqual([{ startsAt: window.startsAt, endsAt: window.endsAt, kind: 'hold' }]);
  });

  it('is validated like a booking request: bad windows and capacity are 400 and enqueue nothing', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack, { capacity: 2 });
    const before = await queuedTotal();
    const past = await addItem(stack, member, space.id, { startsAt: '2020-01-01T09:00:00Z', endsAt: '2020-01-01T10:00:00Z' });
    expect(past.status).toBe(400);
    const crowded = await addItem(stack, member, space.id, hourlySlot(30), { attendees: 3 });
    expect(crowded.status).toBe(400);
    expect(crowded.body.error.details).toEqual([{ path: 'attendees', message: expect.any(String) }]);
    const unknownKey = await addItem(stack, member, space.id, hourlySlot(30), { discount: 5 });
    expect(unknownKey.status).toBe(400);
    expect(await queuedTotal()).toBe(before);
  });

  it('one active cart per user, created on first use, even when the first add-items race', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    const res = await Promise.all([0, 1, 2, 3].map((i) => addItem(stack, member, space.id, hourlySlot(40 + i * 2))));
    for (const r of res) expect(r.body, JSON.stringify(r.body)).toMatchObject({ state: 'completed' });
    expect(new Set(res.map((r) => r.body.result.cartId)).size).toBe(1);
    expect(await em().count(CartSchema, { userId: member.id })).toBe(1);
    expect((await getCart(stack, member)).body.items).toHaveLength(4);
  });

  it('two users racing to hold one slot: one hold, the others fail slot_unavailable', async () => {
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(60);
    const users = Array.from({ length: 6 }, () => makeUser('member'));
    const res = await Promise.all(users.map((u) => addItem(stack, u, space.id, slot)));
    const states = res.map((r) => r.body.state);
    expect(states.filter((s) => s === 'completed')).toHaveLength(1);
    for (const r of res.filter((r) => r.body.state === 'failed')) {
      expect(r.body.error.code).toBe('slot_unavailable');
      expect(r.body.attemptsMade).toBe(1);
    }
    expect(await holdsOn(space.id)).toBe(1);
    expect(await em().count(CartItemSchema, { spaceId: space.id })).toBe(1);
  });

  it('keeps a cart to one workspace', async () => {
    const member = makeUser('member');
    const a = await seedSpace(stack);
    const b = await seedSpace(stack);
    await holdSlot(stack, member, a.space.id, hourlySlot(50));
    const res = await addItem(stack, member, b.space.id, hourlySlot(50));
    expect(res.body).toMatchObject({ state: 'failed', error: { code: 'cart_workspace_mismatch' } });
    expect(await holdsOn(b.space.id)).toBe(0);
  });
});

describe('cart: the availability cache follows the holds', () => {
  it('every hold change is visible as soon as its job completes (eviction after commit)', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(90);
    const url = `/api/v1/spaces/${space.id}/availability?from=${encodeURIComponent(slot.startsAt)}&to=${encodeURIComponent(slot.endsAt)}`;
    const busy = async () => (await stack.request('GET', url, { as: member })).body.busy.map((b: { kind: string }) => b.kind);
    expect(await busy()).toEqual([]); // cached now
    const itemId = await holdSlot(stack, member, space.id, slot);
    expect(await busy()).toEqual(['hold']);
    await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: member, wait: 10, body: { itemId } });
    expect(await busy()).toEqual([]);
    await holdSlot(stack, member, space.id, slot);
    expect(await busy()).toEqual(['hold']);
    expect((await checkout(stack, member)).body.state).toBe('completed');
    expect(await busy()).toEqual(['booking']);
  });
});

describe('cart: remove-item and clear release holds', () => {
  it('remove-item deletes the item and its hold; clear empties the cart', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    const first = await holdSlot(stack, member, space.id, hourlySlot(70));
    await holdSlot(stack, member, space.id, hourlySlot(72));
    await holdSlot(stack, member, space.id, hourlySlot(74));
    expect(await holdsOn(space.id)).toBe(3);

    const removed = await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: member, wait: 10, body: { itemId: first } });
    expect(removed.body).toMatchObject({ state: 'completed', result: { itemId: first, status: 'removed' } });
    expect(await holdsOn(space.id)).toBe(2);
    expect((await getCart(stack, member)).body.items).toHaveLength(2);
    // The slot is free again for anyone.
    expect((await createBooking(stack, makeUser('member'), space.id, hourlySlot(70))).body.state).toBe('completed');

    const cleared = await stack.request('POST', '/api/v1/booking/cart/clear', { as: member, wait: 10 });
    expect(cleared.body).toMatchObject({ state: 'completed', result: { status: 'empty', removed: 2 } });
    expect(await holdsOn(space.id)).toBe(0);
    expect((await getCart(stack, member)).body).toMatchObject({ items: [], totals: { totalPrice: 0 } });
  });

  it('a member can neither see nor act on another member\'s cart', async () => {
    const alice = makeUser('member');
    const bob = makeUser('member');
    const { space } = await seedSpace(stack);
    const itemId = await holdSlot(stack, alice, space.id, hourlySlot(80));

    const bobsView = await getCart(stack, bob);
    expect(bobsView.status).toBe(200);
    expect(bobsView.body).toMatchObject({ id: null, items: [] });
    // Alice's item does not exist for Bob: 404 at the API, nothing enqueued.
    const before = await queuedTotal();
    const remove = await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: bob, wait: 10, body: { itemId } });
    expect(remove.status).toBe(404);
    expect(await queuedTotal()).toBe(before);
    // Bob's clear and checkout act on Bob's (empty) cart only.
    expect((await stack.request('POST', '/api/v1/booking/cart/clear', { as: bob, wait: 10 })).body).toMatchObject({ state: 'completed', result: { removed: 0 } });
    expect((await checkout(stack, bob)).body).toMatchObject({ state: 'failed', error: { code: 'cart_empty' } });
    // And in the worker too: a remove-item job naming Alice's item, enqueued as Bob, is refused.
    const job = await stack.queues.commands.add('cart.remove-item', { itemId, actor: { id: bob.id, role: 'member' }, requestedAt: new Date().toISOString() });
    expect((await waitForJob(stack, bob, job.id!)).error.code).toBe('not_found');
    expect((await getCart(stack, alice)).body.items.map((i: { id: string }) => i.id)).toEqual([itemId]);
    expect(await holdsOn(space.id)).toBe(1);
  });

  it('staff and admin read any member\'s cart with ?userId; a member naming anyone else is 403', async () => {
    const alice = makeUser('member');
    const bob = makeUser('member');
    const staff = makeUser('staff');
    const { space } = await seedSpace(stack);
    const itemId = await holdSlot(stack, alice, space.id, hourlySlot(84));
    const own = (await getCart(stack, alice)).body;

    for (const reader of [staff, admin]) {
      const view = await stack.request('GET', `/api/v1/booking/cart?userId=${alice.id}`, { as: reader });
      expect(view.status).toBe(200);
      expect(view.body).toEqual(own);
    }
    expect((await stack.request('GET', `/api/v1/booking/cart?userId=${alice.id}`, { as: alice })).body).toEqual(own);
    const peek = await stack.request('GET', `/api/v1/booking/cart?userId=${alice.id}`, { as: bob });
    expect(peek.status).toBe(403);
    expect(peek.body.error.code).toBe('forbidden');
    expect(JSON.stringify(peek.body)).not.toContain(itemId);
    expect((await stack.request('GET', '/api/v1/booking/cart?userId=not-a-uuid', { as: staff })).status).toBe(400);
    // Without userId, staff see their own cart, not anyone else's.
    expect((await getCart(stack, staff)).body).toMatchObject({ id: null, items: [] });
  });

  it('staff remove an item from, or clear, a member\'s cart via {userId}; members cannot, at the API or in the worker', async () => {
    const alice = makeUser('member');
    const bob = makeUser('member');
    const staff = makeUser('staff');
    const { space } = await seedSpace(stack);
    const first = await holdSlot(stack, alice, space.id, hourlySlot(86));
    await holdSlot(stack, alice, space.id, hourlySlot(88));
    await holdSlot(stack, alice, space.id, hourlySlot(90));

    // A member naming another member's cart: 403 at the API, nothing enqueued.
    const before = await queuedTotal();
    const bobClear = await stack.request('POST', '/api/v1/booking/cart/clear', { as: bob, wait: 10, body: { userId: alice.id } });
    expect(bobClear.status).toBe(403);
    expect(bobClear.body.error.code).toBe('forbidden');
    const bobRemove = await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: bob, wait: 10, body: { itemId: first, userId: alice.id } });
    expect(bobRemove.status).toBe(403);
    expect(await queuedTotal()).toBe(before);
    // …and in the worker: jobs naming Alice's cart, enqueued as Bob, fail `forbidden` and change nothing.
    for (const [name, data] of [['cart.clear', {}], ['cart.remove-item', { itemId: first }]] as const) {
      const job = await stack.queues.commands.add(name, { ...data, userId: alice.id, actor: { id: bob.id, role: 'member' }, requestedAt: new Date().toISOString() });
      expect((await waitForJob(stack, bob, job.id!)).error.code).toBe('forbidden');
    }
    expect(await holdsOn(space.id)).toBe(3);
    // A member naming themselves is the same as naming nobody.
    expect((await stack.request('POST', '/api/v1/booking/cart/clear', { as: bob, wait: 10, body: { userId: bob.id } })).body).toMatchObject({ state: 'completed', result: { removed: 0 } });

    // Staff: an item not in the named cart is 404; one that is goes, with its hold.
    const bobsItem = await holdSlot(stack, bob, space.id, hourlySlot(92));
    expect((await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: staff, wait: 10, body: { itemId: bobsItem, userId: alice.id } })).status).toBe(404);
    const removed = await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: staff, wait: 10, body: { itemId: first, userId: alice.id } });
    expect(removed.body).toMatchObject({ state: 'completed', result: { itemId: first, status: 'removed' } });
    expect(await holdsOn(space.id)).toBe(3); // Alice's two + Bob's one
    // Staff's clear without userId is their own (empty) cart; with it, Alice's.
    expect((await stack.request('POST', '/api/v1/booking/cart/clear', { as: staff, wait: 10 })).body).toMatchObject({ state: 'completed', result: { removed: 0 } });
    const cleared = await stack.request('POST', '/api/v1/booking/cart/clear', { as: staff, wait: 10, body: { userId: alice.id } });
    expect(cleared.body).toMatchObject({ state: 'completed', name: 'cart.clear', result: { status: 'empty', removed: 2 } });
    expect((await getCart(stack, alice)).body).toMatchObject({ items: [], totals: { totalPrice: 0 } });
    expect(await holdsOn(space.id)).toBe(1);
    expect((await getCart(stack, bob)).body.items.map((i: { id: string }) => i.id)).toEqual([bobsItem]);
    // Staff clearing a user with no active cart: nothing to do.
    expect((await stack.request('POST', '/api/v1/booking/cart/clear', { as: staff, wait: 10, body: { userId: makeUser('member').id } })).body).toMatchObject({
      state: 'completed',
      result: { cartId: null, removed: 0 },
    });
  });
});

describe('checkout: all or nothing, in one transaction', () => {
  it('amounts past 2^31 − 1 minor units (a currency without cents, a long stay): booked, checked out and read back whole', async () => {
    const member = makeUser('member');
    // The largest daily rate the catalog takes, 22 days, no tax: 2.2 billion per booking, 4.4 billion the checkout.
    const { space } = await seedSpace(stack, { taxRateBps: 0, rates: { dailyRate: 100_000_000 } });
    const days = (from: string, to: string) => ({ bookingType: 'daily', startsAt: `${from}T00:00:00Z`, endsAt: `${to}T00:00:00Z` });
    const direct = await createBooking(stack, member, space.id, days('2033-07-01', '2033-07-23') as never, { bookingType: 'daily' });
    expect(direct.body, JSON.stringify(direct.body)).toMatchObject({ state: 'completed', result: { status: 'pending', totalPrice: 2_200_000_000 } });
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${direct.body.result.bookingId}`, { as: member });
    expect(detail.body).toMatchObject({ basePrice: 2_200_000_000, totalPrice: 2_200_000_000 });

    await holdSlot(stack, member, space.id, days('2033-08-01', '2033-08-23') as never, { bookingType: 'daily' });
    await holdSlot(stack, member, space.id, days('2033-09-01', '2033-09-23') as never, { bookingType: 'daily' });
    expect((await getCart(stack, member)).body.totals).toMatchObject({ totalPrice: 4_400_000_000 });
    const res = await checkout(stack, member);
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed', result: { status: 'checked_out', totalPrice: 4_400_000_000 } });
    expect(await em().findOneOrFail(CheckoutSchema, res.body.result.checkoutId)).toMatchObject({ basePrice: 4_400_000_000, totalPrice: 4_400_000_000 });
    const list = await stack.request('GET', '/api/v1/booking/bookings?bookingType=daily', { as: member });
    expect(list.body.items.map((b: { totalPrice: number }) => b.totalPrice)).toEqual([2_200_000_000, 2_200_000_000, 2_200_000_000]);
  });

  it('turns every hold into a confirmed booking, records the checkout and closes the cart', async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    const w1 = hourlySlot(100, 2);
    const w2 = hourlySlot(104, 1);
    const i1 = await holdSlot(stack, member, space.id, w1);
    const i2 = await holdSlot(stack, member, space.id, w2, { attendees: 3, guests: [{ name: 'Grace', email: 'grace@example.test' }] });

    const res = await checkout(stack, member);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: 'cart.checkout',
      state: 'completed',
      result: {
        status: 'checked_out',
        checkoutId: expect.any(String),
        bookingIds: [expect.any(String), expect.any(String)],
        basePrice: 4500,
        discountAmount: 0,
        taxAmount: 855,
        totalPrice: 5355,
        currency: 'EUR',
        paymentMethod: 'invoice',
        paymentReference: expect.stringMatching(/^INV-[0-9A-F]{12}$/),
        paymentStatus: 'invoiced',
      },
    });
    const { bookingIds, checkoutId } = res.body.result;

    const bookings = await bookingsOf(member.id);
    expect(bookings.map((b) => b.id)).toEqual(bookingIds);
    expect(bookings.map((b) => [b.status, b.startsAt.toISOString(), b.totalPrice])).toEqual([
      ['confirmed', w1.startsAt, 3570],
      ['confirmed', w2.startsAt, 1785],
    ]);
    expect(bookings[1]).toMatchObject({ workspaceId: workspace.id, attendees: 3, currency: 'EUR' });
    // Each hold became the booking's claim in place: kind booking, linked, no expiry.
    const claims = await em().find(ReservationSchema, { spaceId: space.id }, { orderBy: { startsAt: 'asc' } });
    expect(claims.map((c) => [c.kind, c.bookingId, c.expiresAt])).toEqual([
      ['booking', bookingIds[0], null],
      ['booking', bookingIds[1], null],
    ]);
    const row = await em().findOneOrFail(CheckoutSchema, checkoutId);
    expect(row).toMatchObject({ userId: member.id, workspaceId: workspace.id, basePrice: 4500, totalPrice: 5355, currency: 'EUR', paymentMethod: 'invoice', commandId: res.body.id });
    expect(row.items.map((l) => [l.itemId, l.bookingId])).toEqual([
      [i1, bookingIds[0]],
      [i2, bookingIds[1]],
    ]);
    expect(await em().findOne(CartSchema, row.cartId)).toMatchObject({ status: 'checked_out' });
    expect(await em().count(CartItemSchema, { cartId: row.cartId, bookingId: { $ne: null } })).toBe(2);
    // Audit rows and events per booking.
    for (const id of bookingIds) {
      expect(await em().find(BookingEventSchema, { bookingId: id })).toMatchObject([{ action: 'checkout', fromStatus: null, toStatus: 'confirmed', commandId: res.body.id }]);
      const events = await em().find(OutboxSchema, { aggregateId: id }, { orderBy: { createdAt: 'asc' } });
      expect(events.map((e) => e.eventType).sort()).toEqual(['BOOKING_CONFIRMED', 'BOOKING_CREATED']);
    }
    // Guests moved from the item to the booking; the detail shows them.
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${bookingIds[1]}`, { as: member });
    expect(detail.body).toMatchObject({ status: 'confirmed', guests: [{ name: 'Grace', email: 'grace@example.test' }] });
    // The cart is gone from view; the next add-item starts a new one.
    expect((await getCart(stack, member)).body).toMatchObject({ id: null, items: [] });
    const again = await holdSlot(stack, member, space.id, hourlySlot(110));
    expect(again).not.toBe(i1);
    expect((await getCart(stack, member)).body.id).not.toBe(row.cartId);
  });

  it('an empty cart cannot be checked out', async () => {
    const res = await checkout(stack, makeUser('member'), { paymentMethod: 'invoice' });
    expect(res.body).toMatchObject({ state: 'failed', error: { code: 'cart_empty' } });
  });

  it('refuses an unknown payment method at the API', async () => {
    const res = await checkout(stack, makeUser('member'), { paymentMethod: 'bitcoin' });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('paymentMethod');
  });

  it('with one unavailable item books nothing, fails slot_unavailable naming the item, and keeps the cart', async () => {
    const member = makeUser('member');
    const rival = makeUser('member');
    const { space } = await seedSpace(stack);
    const kept = hourlySlot(120);
    const lost = hourlySlot(124);
    const keptItem = await holdSlot(stack, member, space.id, kept);
    const lostItem = await holdSlot(stack, member, space.id, lost);
    // The second hold lapses and a rival books the slot (the rival's create removes the expired hold first).
    await stack.orm.em.fork().getConnection().execute(
      `update "reservations" set "expires_at" = now() - interval '1 second' where "id" = (select "reservation_id" from "cart_items" where "id" = ?)`,
      [lostItem],
      'run',
    );
    expect((await createBooking(stack, rival, space.id, lost)).body).toMatchObject({ state: 'completed' });

    const res = await checkout(stack, member);
    expect(res.body).toMatchObject({
      state: 'failed',
      error: { code: 'slot_unavailable', message: expect.stringContaining(lostItem), details: { itemId: lostItem, spaceId: space.id, startsAt: lost.startsAt } },
    });
    expect(await bookingsOf(member.id)).toEqual([]);
    expect(await em().count(CheckoutSchema, { userId: member.id })).toBe(0);
    expect(await em().count(OutboxSchema, { commandId: res.body.id })).toBe(0);
    // The first item's hold is untouched and the cart still active: removing the lost item lets the rest go through.
    const cart = (await getCart(stack, member)).body;
    expect(cart.items.map((i: { id: string; holdStatus: string }) => [i.id, i.holdStatus])).toEqual([
      [keptItem, 'held'],
      [lostItem, 'expired'],
    ]);
    await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: member, wait: 10, body: { itemId: lostItem } });
    const retry = await checkout(stack, member);
    expect(retry.body).toMatchObject({ state: 'completed', result: { bookingIds: [expect.any(String)] } });
  });

  it('books an item whose hold expired if nobody took the slot meanwhile', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    await holdSlot(stack, member, space.id, hourlySlot(130));
    await ageHolds(stack, { spaceId: space.id });
    // The sweep (injected clock: now) deletes the lapsed hold; the item stays in the cart without one.
    expect(await sweepExpiredHolds(stack.orm, new Date(), stack.hooks)).toBeGreaterThanOrEqual(1);
    expect((await getCart(stack, member)).body.items[0]).toMatchObject({ holdStatus: 'expired', holdExpiresAt: null });
    const res = await checkout(stack, member);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'checked_out' } });
    const claim = await em().findOneOrFail(ReservationSchema, { spaceId: space.id });
    expect(claim).toMatchObject({ kind: 'booking', bookingId: res.body.result.bookingIds[0], expiresAt: null });
  });

  it('re-adding a slot whose hold lapsed renews it: the lapsed item goes, the cart counts the slot once and checks out', async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    const room2 = { name: 'Room 2', kind: 'meeting_room', capacity: 6, hourlyRate: 1500, dailyRate: 9000, monthlyRate: 150000 };
    const other = { space: (await stack.request('POST', `/api/v1/workspaces/${workspace.id}/spaces`, { as: admin, body: room2 })).body };
    const slot = hourlySlot(135);
    const first = await holdSlot(stack, member, space.id, slot, { guests: [{ name: 'Grace', email: 'grace@example.com' }] });
    const kept = await holdSlot(stack, member, other.space.id, slot);
    await ageHolds(stack, { userId: member.id });

    const again = await addItem(stack, member, space.id, slot);
    expect(again.body).toMatchObject({ state: 'completed', result: { status: 'held', replacedItemIds: [first] } });
    const cart = (await getCart(stack, member)).body;
    expect(cart.items.map((i: { id: string; holdStatus: string }) => [i.id, i.holdStatus]).sort()).toEqual(
      [[again.body.result.itemId, 'held'], [kept, 'expired']].sort(),
    );
    expect(cart.totals.basePrice).toBe(3000); // two one-hour lines at 1500, not three
    expect(await em().count(GuestSchema, { cartItemId: first })).toBe(0);

    const res = await checkout(stack, member);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'checked_out', bookingIds: [expect.any(String), expect.any(String)] } });
    expect(await em().count(BookingSchema, { spaceId: space.id })).toBe(1);
  });

  it('two users racing to check out the same slot: one books it, the other fails slot_unavailable', async () => {
    const alice = makeUser('member');
    const bob = makeUser('member');
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(140);
    // Alice holds the slot; her hold lapses; Bob's add-item takes the slot over; his hold lapses and is swept.
    const aliceItem = await holdSlot(stack, alice, space.id, slot);
    await ageHolds(stack, { spaceId: space.id });
    const bobItem = await holdSlot(stack, bob, space.id, slot);
    await ageHolds(stack, { spaceId: space.id });
    await sweepExpiredHolds(stack.orm, new Date(), stack.hooks);
    expect(await holdsOn(space.id)).toBe(0);

    // Both carts now hold an item for the same free slot without a hold: the EXCLUDE constraint picks one.
    const [a, b] = await Promise.all([checkout(stack, alice), checkout(stack, bob)]);
    const outcomes = [a.body, b.body];
    expect(outcomes.map((o) => o.state).sort()).toEqual(['completed', 'failed']);
    const loser = outcomes.find((o) => o.state === 'failed')!;
    expect(loser.error.code).toBe('slot_unavailable');
    expect([aliceItem, bobItem]).toContain(loser.error.details.itemId);
    expect(await em().count(BookingSchema, { spaceId: space.id })).toBe(1);
    expect(await em().count(ReservationSchema, { spaceId: space.id })).toBe(1);
  });

  it('a replayed checkout books once and answers with the first result', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    await holdSlot(stack, member, space.id, hourlySlot(150));
    const headers = { 'idempotency-key': 'checkout-once' };
    const first = await checkout(stack, member, { paymentMethod: 'invoice' }, headers);
    expect(first.body).toMatchObject({ state: 'completed' });
    const second = await checkout(stack, member, { paymentMethod: 'invoice' }, headers);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    // Another body with the same key is refused.
    expect((await checkout(stack, member, { paymentMethod: 'invoice', promoCode: 'OTHER1' }, headers)).status).toBe(422);

    // A redelivery of the same job (as BullMQ does after a crash) finds the inbox row and changes nothing.
    const job = (await stack.queues.commands.getJob(first.body.id))!;
    const replay = await executeCommand(stack.orm, { id: job.id!, name: job.name, data: job.data }, stack.hooks);
    expect(replay).toEqual({ outcome: 'completed', result: first.body.result, replayed: true });

    expect(await em().count(BookingSchema, { userId: member.id })).toBe(1);
    expect(await em().count(CheckoutSchema, { userId: member.id })).toBe(1);
    expect(await em().count(OutboxSchema, { aggregateId: first.body.result.bookingIds[0] })).toBe(2);
  });
});

describe('holds expire', () => {
  it('an expired hold frees the slot for another user: booking create and add-item remove it in their transaction', async () => {
    const alice = makeUser('member');
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(160);
    await holdSlot(stack, alice, space.id, slot);
    // Still live: refused.
    expect((await createBooking(stack, makeUser('member'), space.id, slot)).body.error.code).toBe('slot_unavailable');
    await ageHolds(stack, { spaceId: space.id });
    const booked = await createBooking(stack, makeUser('member'), space.id, slot);
    expect(booked.body, JSON.stringify(booked.body)).toMatchObject({ state: 'completed' });
    expect(await holdsOn(space.id)).toBe(0);
    // Alice's item stays, without a hold; her checkout now fails naming it.
    expect((await getCart(stack, alice)).body.items[0]).toMatchObject({ holdStatus: 'expired', holdExpiresAt: null });
    expect((await checkout(stack, alice)).body.error.code).toBe('slot_unavailable');

    const slot2 = hourlySlot(164);
    await holdSlot(stack, alice, space.id, slot2);
    await ageHolds(stack, { spaceId: space.id });
    const bob = makeUser('member');
    await holdSlot(stack, bob, space.id, slot2);
    expect((await getCart(stack, bob)).body.items[0].holdStatus).toBe('held');
  });

  it('the sweeps delete expired holds and abandon idle carts (injected clock)', async () => {
    const member = makeUser('member');
    const idle = makeUser('member');
    const { space } = await seedSpace(stack);
    await holdSlot(stack, member, space.id, hourlySlot(170));
    await holdSlot(stack, idle, space.id, hourlySlot(172));
    expect(await holdsOn(space.id)).toBe(2);

    // Nothing is due now.
    const now = new Date();
    expect(await sweepAbandonedCarts(stack.orm, now, 60, stack.hooks)).toBe(0);

    // 16 minutes on: both holds have lapsed and are swept; the carts are not idle for an hour yet.
    const later = new Date(now.getTime() + 16 * 60_000);
    expect(await sweepExpiredHolds(stack.orm, later, stack.hooks)).toBeGreaterThanOrEqual(2);
    expect(await holdsOn(space.id)).toBe(0);
    expect(await sweepExpiredHolds(stack.orm, later, stack.hooks)).toBe(0);

    // 61 minutes on: both carts (no activity since) are abandoned, and the member's next add-item starts a new cart.
    const muchLater = new Date(now.getTime() + 61 * 60_000);
    expect(await sweepAbandonedCarts(stack.orm, muchLater, 60, stack.hooks)).toBeGreaterThanOrEqual(2);
    expect(await em().count(CartSchema, { userId: { $in: [member.id, idle.id] }, status: 'abandoned' })).toBe(2);
    expect(await sweepAbandonedCarts(stack.orm, muchLater, 60, stack.hooks)).toBe(0);
    expect((await getCart(stack, member)).body).toMatchObject({ id: null, items: [] });
    await holdSlot(stack, member, space.id, hourlySlot(176));
    expect(await em().count(CartSchema, { userId: member.id })).toBe(2);
  });

  it('abandoning a cart releases its live holds', async () => {
    const member = makeUser('member');
    const { space } = await seedSpace(stack);
    await holdSlot(stack, member, space.id, hourlySlot(180));
    // Idle time shorter than the hold: the cart goes before its hold would lapse, and takes the hold with it.
    expect(await sweepAbandonedCarts(stack.orm, new Date(Date.now() + 6 * 60_000), 5, stack.hooks)).toBeGreaterThanOrEqual(1);
    expect(await holdsOn(space.id)).toBe(0);
  });
});
