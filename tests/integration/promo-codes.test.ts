import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookingSchema, CartSchema, CheckoutSchema, PromoCodeSchema } from '../../src/db/entities/index.js';
import { ageHolds, checkout, createPromo, holdSlot } from '../helpers/cart.js';
import { admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '10' } });
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const DAY = 86_400_000;

describe('promo codes: admin CRUD', () => {
  it('admins create codes (normalized upper-case, unique per workspace); others may not', async () => {
    const { workspace } = await seedSpace(stack);
    const created = await createPromo(stack, workspace.id, { code: 'welcome10', discountType: 'percent', discountValue: 10, maxUses: 3 });
    expect(created).toMatchObject({ workspaceId: workspace.id, code: 'WELCOME10', discountType: 'percent', discountValue: 10, maxUses: 3, usedCount: 0, active: true, validFrom: null, validTo: null });

    const dup = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/promo-codes`, { as: admin, body: { code: 'WELCOME10', discountType: 'fixed', discountValue: 500 } });
    expect(dup.status).toBe(409);
    const member = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/promo-codes`, { as: makeUser('member'), body: { code: 'MINE', discountType: 'fixed', discountValue: 500 } });
    expect(member.status).toBe(403);
    const badPercent = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/promo-codes`, { as: admin, body: { code: 'HUGE', discountType: 'percent', discountValue: 150 } });
    expect(badPercent.status).toBe(400);
    expect(badPercent.body.error.details[0].path).toBe('discountValue');
    const badWindow = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/promo-codes`, {
      as: admin,
      body: { code: 'BACKWARDS', discountType: 'fixed', discountValue: 100, validFrom: '2030-02-01T00:00:00Z', validTo: '2030-01-01T00:00:00Z' },
    });
    expect(badWindow.status).toBe(400);

    const list = await stack.request('GET', `/api/v1/workspaces/${workspace.id}/promo-codes`, { as: makeUser('staff') });
    expect(list.body).toMatchObject({ total: 1, items: [{ code: 'WELCOME10' }] });
    expect((await stack.request('GET', `/api/v1/workspaces/${workspace.id}/promo-codes`, { as: makeUser('member') })).status).toBe(403);
  });
});

describe('promo codes at checkout', () => {
  it('a percent code discounts every line through the pricing module (tax on the discounted price) and counts one use', async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'TENOFF', discountType: 'percent', discountValue: 10, maxUses: 5 });
    await holdSlot(stack, member, space.id, hourlySlot(24, 2)); // base 3000
    await holdSlot(stack, member, space.id, hourlySlot(30, 1)); // base 1500
    const res = await checkout(stack, member, { promoCode: 'tenoff' });
    // 3000 − 300 = 2700 + 513 tax = 3213; 1500 − 150 = 1350 + 257 (256.5 rounded half up) = 1607.
    expect(res.body).toMatchObject({
      state: 'completed',
      result: { promoCode: 'TENOFF', basePrice: 4500, discountAmount: 450, taxAmount: 770, totalPrice: 4820 },
    });
    const bookings = await em().find(BookingSchema, { userId: member.id }, { orderBy: { startsAt: 'asc' } });
    expect(bookings.map((b) => [b.basePrice, b.discountAmount, b.taxAmount, b.totalPrice])).toEqual([
      [3000, 300, 513, 3213],
      [1500, 150, 257, 1607],
    ]);
    const promo = await em().findOneOrFail(PromoCodeSchema, { workspaceId: workspace.id, code: 'TENOFF' });
    expect(promo.usedCount).toBe(1);
    expect(await em().findOneOrFail(CheckoutSchema, res.body.result.checkoutId)).toMatchObject({ promoCodeId: promo.id, discountAmount: 450 });
  });

  it("a PATCH that moves a discounted booking keeps its discount (the amount, capped at the new base price)", async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'MOVEME', discountType: 'percent', discountValue: 10 });
    await createPromo(stack, workspace.id, { code: 'ALLFREE', discountType: 'fixed', discountValue: 5000 });
    await holdSlot(stack, member, space.id, hourlySlot(60, 2)); // base 3000
    expect((await checkout(stack, member, { promoCode: 'moveme' })).body.state).toBe('completed');
    const [tenOff] = await em().find(BookingSchema, { userId: member.id });
    const patch = (id: string, body: Record<string, unknown>) => stack.request('PATCH', `/api/v1/booking/bookings/${id}`, { as: member, wait: 10, body });
    const figures = async (id: string) => {
      const b = await em().findOneOrFail(BookingSchema, id);
      return [b.basePrice, b.discountAmount, b.taxAmount, b.totalPrice];
    };
    // Moved by a day, the same length: the same price. Then its end alone, to where it was: the same again.
    expect((await patch(tenOff!.id, hourlySlot(84, 2))).body.state).toBe('completed');
    expect(await figures(tenOff!.id)).toEqual([3000, 300, 513, 3213]);
    const { endsAt } = await em().findOneOrFail(BookingSchema, tenOff!.id);
    expect((await patch(tenOff!.id, { endsAt: endsAt.toISOString() })).body.state).toBe('completed');
    expect(await figures(tenOff!.id)).toEqual([3000, 300, 513, 3213]);

    // A code worth more than the line: the whole 3000; the booking shortened to one hour keeps 1500 of it (total 0).
    await holdSlot(stack, member, space.id, hourlySlot(64, 2));
    expect((await checkout(stack, member, { promoCode: 'ALLFREE' })).body.state).toBe('completed');
    const free = (await em().find(BookingSchema, { userId: member.id, id: { $ne: tenOff!.id } }))[0]!;
    expect(await figures(free.id)).toEqual([3000, 3000, 0, 0]);
    expect((await patch(free.id, hourlySlot(90, 1))).body.state).toBe('completed');
    expect(await figures(free.id)).toEqual([1500, 1500, 0, 0]);
    // Back to two hours: the cap came from the short slot, so the whole granted 3000 applies again (total 0 again).
    expect((await patch(free.id, hourlySlot(90, 2))).body.state).toBe('completed');
    expect(await figures(free.id)).toEqual([3000, 3000, 0, 0]);
  });

  it('a fixed code is split over the lines and never exceeds the price', async () => {
    const member = makeUser('member');
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'FIVEEUR', discountType: 'fixed', discountValue: 500 });
    await holdSlot(stack, member, space.id, hourlySlot(40, 2)); // 3000
    await holdSlot(stack, member, space.id, hourlySlot(44, 1)); // 1500
    const res = await checkout(stack, member, { promoCode: 'FIVEEUR' });
    expect(res.body.result).toMatchObject({ basePrice: 4500, discountAmount: 500 });
    const bookings = await em().find(BookingSchema, { userId: member.id }, { orderBy: { startsAt: 'asc' } });
    expect(bookings.map((b) => b.discountAmount)).toEqual([333, 167]);
  });

  it('max-uses 1 and two concurrent checkouts: used once; the other checkout fails promo_exhausted and books nothing', async () => {
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'ONCE', discountType: 'percent', discountValue: 50, maxUses: 1 });
    const alice = makeUser('member');
    const bob = makeUser('member');
    await holdSlot(stack, alice, space.id, hourlySlot(50));
    await holdSlot(stack, bob, space.id, hourlySlot(52));
    const [a, b] = await Promise.all([checkout(stack, alice, { promoCode: 'ONCE' }), checkout(stack, bob, { promoCode: 'ONCE' })]);
    const outcomes = [a.body, b.body];
    expect(outcomes.map((o) => o.state).sort()).toEqual(['completed', 'failed']);
    const loser = outcomes.find((o) => o.state === 'failed')!;
    expect(loser.error.code).toBe('promo_exhausted');
    expect(loser.attemptsMade).toBe(1);
    expect((await em().findOneOrFail(PromoCodeSchema, { workspaceId: workspace.id, code: 'ONCE' })).usedCount).toBe(1);
    expect(await em().count(CheckoutSchema, { promoCodeId: { $ne: null }, workspaceId: workspace.id })).toBe(1);
    const loserId = loser === a.body ? alice.id : bob.id;
    expect(await em().count(BookingSchema, { userId: loserId })).toBe(0);
    expect(await em().findOneOrFail(CartSchema, { userId: loserId })).toMatchObject({ status: 'active' });
    // Without the code the loser's checkout goes through.
    const retry = await checkout(stack, loser === a.body ? alice : bob);
    expect(retry.body).toMatchObject({ state: 'completed', result: { discountAmount: 0 } });
  });

  it('a checkout that fails (a lapsed hold whose slot was taken) uses up nothing of its code', async () => {
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'KEEPME', discountType: 'percent', discountValue: 20, maxUses: 1 });
    const member = makeUser('member');
    const slot = hourlySlot(56);
    await holdSlot(stack, member, space.id, slot);
    await holdSlot(stack, member, space.id, hourlySlot(58));
    await ageHolds(stack, { userId: member.id });
    expect((await createBooking(stack, makeUser('member'), space.id, slot)).body.state).toBe('completed');
    const failed = await checkout(stack, member, { promoCode: 'KEEPME' });
    expect(failed.body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    expect((await em().findOneOrFail(PromoCodeSchema, { workspaceId: workspace.id, code: 'KEEPME' })).usedCount).toBe(0);
    expect(await em().count(CheckoutSchema, { workspaceId: workspace.id })).toBe(0);
    expect(await em().count(BookingSchema, { userId: member.id })).toBe(0);
  });

  it('max-uses 3 and eight concurrent checkouts: exactly three get the discount', async () => {
    const { space, workspace } = await seedSpace(stack);
    await createPromo(stack, workspace.id, { code: 'THREE', discountType: 'fixed', discountValue: 100, maxUses: 3 });
    const users = Array.from({ length: 8 }, () => makeUser('member'));
    for (const [i, u] of users.entries()) await holdSlot(stack, u, space.id, hourlySlot(200 + i * 2));
    const res = await Promise.all(users.map((u) => checkout(stack, u, { promoCode: 'THREE' })));
    expect(res.filter((r) => r.body.state === 'completed')).toHaveLength(3);
    for (const r of res.filter((r) => r.body.state === 'failed')) expect(r.body.error.code).toBe('promo_exhausted');
    expect((await em().findOneOrFail(PromoCodeSchema, { workspaceId: workspace.id, code: 'THREE' })).usedCount).toBe(3);
    expect(await em().count(BookingSchema, { spaceId: space.id })).toBe(3);
  });

  it('unknown, foreign, inactive, expired, not-yet-valid and used-up codes fail with clear codes', async () => {
    const { space, workspace } = await seedSpace(stack);
    const other = await seedSpace(stack);
    const now = Date.now();
    await createPromo(stack, other.workspace.id, { code: 'ELSEWHERE', discountType: 'percent', discountValue: 10 });
    await createPromo(stack, workspace.id, { code: 'OFF', discountType: 'percent', discountValue: 10, active: false });
    await createPromo(stack, workspace.id, { code: 'OLD', discountType: 'percent', discountValue: 10, validFrom: new Date(now - 10 * DAY).toISOString(), validTo: new Date(now - DAY).toISOString() });
    await createPromo(stack, workspace.id, { code: 'SOON', discountType: 'percent', discountValue: 10, validFrom: new Date(now + DAY).toISOString() });
    const member = makeUser('member');
    await holdSlot(stack, member, space.id, hourlySlot(60));
    const codes: [string, string][] = [
      ['NOPE', 'promo_invalid'],
      ['ELSEWHERE', 'promo_invalid'],
      ['OFF', 'promo_invalid'],
      ['OLD', 'promo_expired'],
      ['SOON', 'promo_expired'],
    ];
    for (const [code, error] of codes) {
      const res = await checkout(stack, member, { promoCode: code });
      expect(res.body, code).toMatchObject({ state: 'failed', error: { code: error } });
    }
    // A malformed code never reaches the queue.
    expect((await checkout(stack, member, { promoCode: 'no spaces!' })).status).toBe(400);
    expect(await em().count(BookingSchema, { userId: member.id })).toBe(0);
  });
});
