import type { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expiredHoldsDelete } from '../../src/commands/claims.js';
import { CartSchema, ReservationSchema } from '../../src/db/entities/index.js';
import { createMaintenanceWorker, registerSchedulers } from '../../src/jobs/maintenance.worker.js';
import { createLogger } from '../../src/logger.js';
import { CART_SWEEP_NAMES } from '../../src/maintenance/cart-sweeps.js';
import { createRedis } from '../../src/redis.js';
import { getCart, holdSlot } from '../helpers/cart.js';
import { positional } from '../helpers/db.js';
import { until } from '../helpers/follow-ups.js';
import { createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

/**
 * Holds that really lapse: this file's holds last 300 ms (CART_HOLD_MINUTES=0.005), and its carts go idle after
 * 600 ms. The tests wait a little past that once; nothing asserts on how long anything took.
 */
const HOLD_MS = 300;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CART_HOLD_MINUTES: String(HOLD_MS / 60_000), CART_IDLE_MINUTES: String(600 / 60_000) } });
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hold expiry with a short CART_HOLD_MINUTES', () => {
  it('a lapsed hold frees the slot for another user', async () => {
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(24);
    const alice = makeUser('member');
    const itemId = await holdSlot(stack, alice, space.id, slot);
    const hold = await em().findOneOrFail(ReservationSchema, { spaceId: space.id, kind: 'hold' });
    expect(hold.expiresAt!.getTime() - hold.createdAt.getTime()).toBe(HOLD_MS);

    await pause(HOLD_MS + 100);
    const bob = makeUser('member');
    const booked = await createBooking(stack, bob, space.id, slot);
    expect(booked.body, JSON.stringify(booked.body)).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    expect(await em().count(ReservationSchema, { spaceId: space.id })).toBe(1);
    expect((await getCart(stack, alice)).body.items).toMatchObject([{ id: itemId, holdStatus: 'expired', holdExpiresAt: null }]);
  });

  it("a cached availability answer leaves a hold out once it has lapsed (no commit evicts it then)", async () => {
    const { space } = await seedSpace(stack);
    const slot = hourlySlot(26);
    await holdSlot(stack, makeUser('member'), space.id, slot);
    const q = `/api/v1/spaces/${space.id}/availability?from=${encodeURIComponent(slot.startsAt)}&to=${encodeURIComponent(slot.endsAt)}`;
    const reader = makeUser('member');
    expect((await stack.request('GET', q, { as: reader })).body.busy).toEqual([{ ...slot, kind: 'hold' }]);
    await pause(HOLD_MS + 100);
    // The same query: the cached entry (the hold is still in the table, nothing swept it or evicted the entry).
    expect(await em().count(ReservationSchema, { spaceId: space.id, kind: 'hold' })).toBe(1);
    expect((await stack.request('GET', q, { as: reader })).body.busy).toEqual([]);
    // Nor does it block: a booking of the slot clears it (and leaves the next test's sweep only its own hold).
    expect((await createBooking(stack, reader, space.id, slot)).body).toMatchObject({ state: 'completed' });
    expect((await stack.request('GET', q, { as: reader })).body.busy).toEqual([{ ...slot, kind: 'booking' }]);
  });

  it('the scheduler registers the cart sweeps, and the maintenance worker runs them', async () => {
    await registerSchedulers(stack.queues.maintenance, 3_600_000);
    const names = (await stack.queues.maintenance.getJobSchedulers(0, -1)).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining([...CART_SWEEP_NAMES]));
    // Not left to fire on their own here: the test adds the sweep jobs itself, in a known order.
    for (const s of await stack.queues.maintenance.getJobSchedulers(0, -1)) await stack.queues.maintenance.removeJobScheduler(s.key);
    await stack.queues.maintenance.drain(true);

    const { space } = await seedSpace(stack);
    const member = makeUser('member');
    await holdSlot(stack, member, space.id, hourlySlot(30));
    await pause(600 + 100);

    const connection = createRedis(stack.config.redis.url, 'worker');
    const worker = createMaintenanceWorker({ orm: stack.orm, connection, config: stack.config, logger: createLogger(stack.config, 'test'), hooks: stack.hooks, queues: stack.queues });
    try {
      const jobs: Job[] = [];
      for (const name of CART_SWEEP_NAMES) jobs.push(await stack.queues.maintenance.add(name, {}));
      const results = await Promise.all(
        jobs.map(async (job) => {
          for (;;) {
            const state = await job.getState();
            if (state === 'completed' || state === 'failed') return { state, job: await stack.queues.maintenance.getJob(job.id!) };
            await pause(25);
          }
        }),
      );
      expect(results.map((r) => r.state)).toEqual(['completed', 'completed']);
      expect(results[0]!.job!.returnvalue).toEqual({ swept: 1 });
      expect(await em().count(ReservationSchema, { spaceId: space.id })).toBe(0);
      expect(await em().findOneOrFail(CartSchema, { userId: member.id })).toMatchObject({ status: 'abandoned' });
    } finally {
      await worker.close();
      await connection.quit();
    }
  });
});

describe('the expired-hold cleanup racing a checkout that converts the hold', () => {
  it('leaves the row alone once the checkout has made it a booking\'s claim, even if it found it expired before', async () => {
    const { space } = await seedSpace(stack);
    const holdId = randomUUID();
    const [startsAt, endsAt] = [new Date(Date.now() + 48 * 3_600_000), new Date(Date.now() + 49 * 3_600_000)];
    const [checkout, cleanup] = [new pg.Client({ connectionString: stack.config.db.url }), new pg.Client({ connectionString: stack.config.db.url })];
    await Promise.all([checkout.connect(), cleanup.connect()]);
    try {
      await checkout.query(
        `insert into reservations (id, space_id, kind, booking_id, starts_at, ends_at, expires_at, created_at) values ($1, $2, 'hold', null, $3, $4, now() - interval '1 minute', now())`,
        [holdId, space.id, startsAt, endsAt],
      );
      // The checkout converts the (expired) hold in place and has not committed yet…
      await checkout.query('begin');
      await checkout.query(`update reservations set kind = 'booking', expires_at = null where id = $1 and kind = 'hold'`, [holdId]);
      // …while another command's cleanup finds the hold expired and waits for the row; run as the ORM runs it
      // (a named statement, generic plan).
      await cleanup.query('set plan_cache_mode = force_generic_plan');
      const { sql, bindings } = expiredHoldsDelete([{ spaceId: space.id, startsAt, endsAt, now: new Date() }]);
      const deleting = cleanup.query({ name: 'holds-race', text: positional(sql), values: bindings });
      await until('the cleanup to wait on the row lock', async () => {
        const { rows } = await checkout.query(`select count(*)::int as c from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete from "reservations"%'`);
        return rows[0].c > 0;
      });
      await checkout.query('commit');
      expect((await deleting).rows).toEqual([]);
      const { rows } = await checkout.query('select kind, expires_at from reservations where id = $1', [holdId]);
      expect(rows).toEqual([{ kind: 'booking', expires_at: null }]);
    } finally {
      await checkout.query('rollback').catch(() => undefined);
      await Promise.all([checkout.end(), cleanup.end()]);
    }
  });
});
