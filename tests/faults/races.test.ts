import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredHolds } from '../../src/maintenance/cart-sweeps.js';
import { addItem, ageHolds } from '../helpers/cart.js';
import { act, admin, createBooking, hourlySlot, startingSoon } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, startStack, type Stack, type TestResponse, type TestUser } from '../helpers/stack.js';
import { countFinished, directDbUrl, inboxRows, jobIdOf, verifyLedger, type Accepted } from './helpers/ledger.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 4: races, each repeated 20 times on fresh resources, all requests of a round fired at once. Only the
 * allowed outcomes may appear, every time: the database (EXCLUDE constraint, row locks) decides, not timing.
 */

const REPEATS = 20;
let stack: Stack;
let db: pg.Client;
let workspaceId: string;
const staff = makeUser('staff');
const users = Array.from({ length: 100 }, (_, i) => makeUser('member', `race${i}`));

beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '16', DATABASE_POOL_MAX: '20' } });
  db = new pg.Client({ connectionString: directDbUrl(stack) });
  await db.connect();
  const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'Race Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 1900 } });
  expect(ws.status).toBe(201);
  workspaceId = ws.body.id;
});
afterAll(async () => {
  await db?.end();
  await stack?.close();
});

async function newSpace(name: string): Promise<string> {
  const res = await stack.request('POST', `/api/v1/workspaces/${workspaceId}/spaces`, {
    as: admin,
    body: { name, kind: 'meeting_room', capacity: 8, hourlyRate: 1500, dailyRate: 9000, monthlyRate: 150000 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

/** Records a command answer in the ledger (202, or 200 with the finished job under Prefer: wait). */
function accept(ledger: Accepted[], res: TestResponse, name: string, expectOutcome?: 'completed' | 'failed'): string {
  const jobId = jobIdOf(res);
  expect(jobId, `${name}: ${res.status} ${JSON.stringify(res.body)}`).toBeDefined();
  ledger.push({ jobId: jobId!, name, ...(expectOutcome ? { expect: expectOutcome } : {}) });
  return jobId!;
}

async function settled(ids: string[]) {
  await until(`${ids.length} race jobs to finish`, async () => (await countFinished(db, ids)) === ids.length, 60_000, 20);
  return inboxRows(db, ids);
}

describe('100 concurrent creates across 10 slots (×20)', () => {
  it('exactly 10 bookings (one per slot) and 90 slot_unavailable, every round', async () => {
    const ledger: Accepted[] = [];
    let lost = 0;
    let duplicated = 0;
    for (let round = 0; round < REPEATS; round++) {
      const spaceId = await newSpace(`Creates ${round}`);
      const base = hourlySlot(24 + round * 12);
      const slot = (i: number) => ({
        startsAt: new Date(Date.parse(base.startsAt) + i * 3_600_000).toISOString(),
        endsAt: new Date(Date.parse(base.endsAt) + i * 3_600_000).toISOString(),
      });
      const answers = await Promise.all(
        users.map((u, k) => stack.request('POST', '/api/v1/booking/bookings', { as: u, body: { spaceId, bookingType: 'hourly', ...slot(k % 10) } })),
      );
      const ids = answers.map((a) => accept(ledger, a, 'booking.create'));
      const inbox = await settled(ids);
      const outcomes = ids.map((id) => inbox.get(id));
      lost += outcomes.filter((o) => !o).length;
      const completed = outcomes.filter((o) => o?.outcome === 'completed');
      const refused = outcomes.filter((o) => o?.outcome === 'failed');
      const perSlot = (
        await db.query<{ starts_at: Date; n: number }>('select starts_at, count(*)::int as n from bookings where space_id = $1 group by starts_at', [spaceId])
      ).rows;
      duplicated += perSlot.reduce((s, r) => s + Math.max(0, r.n - 1), 0);
      expect(completed, `round ${round}`).toHaveLength(10);
      expect(refused.map((o) => o!.error!.code), `round ${round}`).toEqual(Array(90).fill('slot_unavailable'));
      expect(perSlot, `round ${round}`).toHaveLength(10);
      expect(perSlot.every((r) => r.n === 1), `round ${round}`).toBe(true);
      const claims = (await db.query<{ n: number }>('select count(*)::int as n from reservations where space_id = $1', [spaceId])).rows[0]!.n;
      expect(claims, `round ${round}`).toBe(10);
    }
    const verdict = await verifyLedger(directDbUrl(stack), ledger);
    recordSummary({
      scenario: '4a. race: 100 concurrent creates on 10 slots (×20)',
      commands: ledger.length,
      faults: '20 rounds of 100 simultaneous requests',
      lost: lost + verdict.lost,
      duplicated: duplicated + verdict.duplicated,
      serverErrors: 0,
      notes: `${verdict.completed} bookings (10 per round), ${verdict.refusals.slot_unavailable ?? 0} slot_unavailable`,
    });
    expect(verdict.problems, verdict.problems.join('\n')).toEqual([]);
    expect(verdict.completed).toBe(10 * REPEATS);
    expect(verdict.refusals).toEqual({ slot_unavailable: 90 * REPEATS });
    expect(lost + verdict.lost + duplicated + verdict.duplicated).toBe(0);
  });
});

describe('cancel vs check-in on one booking (×20)', () => {
  it('exactly one wins, the other fails invalid_transition; the booking is what the winner made it', async () => {
    const ledger: Accepted[] = [];
    const wins = { cancel: 0, 'check-in': 0 };
    let lost = 0;
    let duplicated = 0;
    for (let round = 0; round < REPEATS; round++) {
      const owner = users[round]!;
      const spaceId = await newSpace(`Check-in ${round}`);
      const created = await createBooking(stack, owner, spaceId, await startingSoon(2));
      expect(created.body, JSON.stringify(created.body)).toMatchObject({ state: 'completed' });
      accept(ledger, created, 'booking.create', 'completed');
      const bookingId: string = created.body.result.bookingId;
      const confirmed = await act(stack, staff, bookingId, 'confirm');
      expect(confirmed.body).toMatchObject({ state: 'completed', result: { status: 'confirmed' } });
      accept(ledger, confirmed, 'booking.confirm', 'completed');

      // The cancel comes from the owner in even rounds and from staff in odd ones.
      const canceller: TestUser = round % 2 ? staff : owner;
      const [cancel, checkIn] = await Promise.all([
        stack.request('POST', `/api/v1/booking/bookings/${bookingId}/cancel`, { as: canceller, body: { reason: `race ${round}` } }),
        stack.request('POST', `/api/v1/booking/bookings/${bookingId}/check-in`, { as: owner }),
      ]);
      const ids = [accept(ledger, cancel, 'booking.cancel'), accept(ledger, checkIn, 'booking.check-in')];
      const inbox = await settled(ids);
      const [c, k] = ids.map((id) => inbox.get(id));
      if (!c || !k) lost++;
      const outcomes = [c?.outcome, k?.outcome];
      if (outcomes.every((o) => o === 'completed')) duplicated++;
      expect(outcomes.sort(), `round ${round}`).toEqual(['completed', 'failed']);
      const loser = c!.outcome === 'failed' ? c! : k!;
      expect(loser.error!.code, `round ${round}`).toBe('invalid_transition');

      const [row] = (
        await db.query<{ status: string; checked_in_at: Date | null; cancelled_at: Date | null; reason: string | null; claims: number; events: string[] }>(
          `select b.status, b.checked_in_at, b.cancelled_at, b.cancellation_reason as reason,
                  (select count(*)::int from reservations r where r.booking_id = b.id) as claims,
                  (select array_agg(o.event_type order by o.created_at) from outbox o where o.aggregate_id = b.id) as events
             from bookings b where b.id = $1`,
          [bookingId],
        )
      ).rows;
      if (c!.outcome === 'completed') {
        wins.cancel++;
        expect(row, `round ${round}`).toMatchObject({ status: 'cancelled', checked_in_at: null, reason: `race ${round}`, claims: 0 });
        expect(row!.cancelled_at).not.toBeNull();
        expect(row!.events).toEqual(['BOOKING_CREATED', 'BOOKING_CONFIRMED', 'BOOKING_CANCELLED']);
      } else {
        wins['check-in']++;
        expect(row, `round ${round}`).toMatchObject({ status: 'active', cancelled_at: null, reason: null, claims: 1 });
        expect(row!.checked_in_at).not.toBeNull();
        expect(row!.events).toEqual(['BOOKING_CREATED', 'BOOKING_CONFIRMED', 'BOOKING_CHECKED_IN']);
      }
    }
    const verdict = await verifyLedger(directDbUrl(stack), ledger);
    recordSummary({
      scenario: '4b. race: cancel vs check-in on one booking (×20)',
      commands: ledger.length,
      faults: '20 rounds of 2 simultaneous commands',
      lost: lost + verdict.lost,
      duplicated: duplicated + verdict.duplicated,
      serverErrors: 0,
      notes: `cancel won ${wins.cancel}×, check-in won ${wins['check-in']}×; the loser always invalid_transition`,
    });
    expect(verdict.problems, verdict.problems.join('\n')).toEqual([]);
    expect(wins.cancel + wins['check-in']).toBe(REPEATS);
    expect(lost + verdict.lost + duplicated + verdict.duplicated).toBe(0);
  });
});

describe('concurrent checkouts of two carts sharing a slot (×20)', () => {
  it('one checkout books the slot, the other fails slot_unavailable naming its item; its cart stays as it was', async () => {
    const ledger: Accepted[] = [];
    let lost = 0;
    let duplicated = 0;
    const winners = { first: 0, second: 0 };
    for (let round = 0; round < REPEATS; round++) {
      const [alice, bob] = [makeUser('member', `alice${round}`), makeUser('member', `bob${round}`)];
      const spaceId = await newSpace(`Checkout ${round}`);
      const slot = hourlySlot(200 + round * 3);
      // Alice's hold lapses and Bob's add-item takes the slot over; then Bob's hold lapses too. In even rounds the
      // sweep has deleted Bob's expired hold (both carts must claim anew); in odd ones it is still there (Bob's
      // checkout may convert it, Alice's deletes it first): either way both carts want one free slot.
      const a = await addItem(stack, alice, spaceId, slot);
      expect(a.body).toMatchObject({ state: 'completed' });
      accept(ledger, a, 'cart.add-item', 'completed');
      await ageHolds(stack, { spaceId });
      const b = await addItem(stack, bob, spaceId, slot);
      expect(b.body, JSON.stringify(b.body)).toMatchObject({ state: 'completed' });
      accept(ledger, b, 'cart.add-item', 'completed');
      await ageHolds(stack, { spaceId });
      if (round % 2 === 0) await sweepExpiredHolds(stack.orm, new Date(), stack.hooks);

      const [ca, cb] = await Promise.all([
        stack.request('POST', '/api/v1/booking/cart/checkout', { as: alice }),
        stack.request('POST', '/api/v1/booking/cart/checkout', { as: bob }),
      ]);
      const ids = [accept(ledger, ca, 'cart.checkout'), accept(ledger, cb, 'cart.checkout')];
      const inbox = await settled(ids);
      const [ra, rb] = ids.map((id) => inbox.get(id));
      if (!ra || !rb) lost++;
      if (ra?.outcome === 'completed' && rb?.outcome === 'completed') duplicated++;
      expect([ra?.outcome, rb?.outcome].sort(), `round ${round}`).toEqual(['completed', 'failed']);
      const [winner, loser, loserItem] = ra!.outcome === 'completed' ? [ra!, rb!, b.body.result.itemId] : [rb!, ra!, a.body.result.itemId];
      if (winner === ra) winners.first++;
      else winners.second++;
      expect(loser.error, `round ${round}`).toMatchObject({ code: 'slot_unavailable', details: { itemId: loserItem } });
      expect(winner.result!.bookingIds as string[]).toHaveLength(1);

      const claims = (
        await db.query<{ kind: string; booking_id: string | null }>('select kind, booking_id from reservations where space_id = $1', [spaceId])
      ).rows;
      expect(claims, `round ${round}`).toEqual([{ kind: 'booking', booking_id: (winner.result!.bookingIds as string[])[0] }]);
      const carts = (
        await db.query<{ user_id: string; status: string; items: number }>(
          `select c.user_id, c.status, (select count(*)::int from cart_items i where i.cart_id = c.id) as items from carts c where c.user_id = any($1::uuid[])`,
          [[alice.id, bob.id]],
        )
      ).rows;
      const winnerUser = winner === ra ? alice.id : bob.id;
      for (const c of carts) expect(c, `round ${round}`).toMatchObject(c.user_id === winnerUser ? { status: 'checked_out', items: 1 } : { status: 'active', items: 1 });
      expect(carts).toHaveLength(2);
    }
    const verdict = await verifyLedger(directDbUrl(stack), ledger);
    recordSummary({
      scenario: '4c. race: checkouts of carts sharing a slot (×20)',
      commands: ledger.length,
      faults: '20 rounds of 2 simultaneous checkouts',
      lost: lost + verdict.lost,
      duplicated: duplicated + verdict.duplicated,
      serverErrors: 0,
      notes: `the first cart won ${winners.first}×, the second ${winners.second}×; the loser always slot_unavailable`,
    });
    expect(verdict.problems, verdict.problems.join('\n')).toEqual([]);
    expect(lost + verdict.lost + duplicated + verdict.duplicated).toBe(0);
  });
});
