import { QueueEvents } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { createRedis } from '../../src/redis.js';
import { admin } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, REDIS_URL, startStack, type Stack, type TestUser } from '../helpers/stack.js';
import { countFinished, directDbUrl, mapLimit, unfinishedJobs, verifyLedger, type Accepted } from './helpers/ledger.js';
import { spawnService, stopService, type ServiceProcess } from './helpers/processes.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 1: two real worker processes (workers/worker.ts) and the real scheduler process; the test sends about
 * 2,000 mixed commands through the API (in-process, no worker of its own) in waves, and SIGKILLs a worker at
 * fixed points of each wave (only while jobs are active), restarting it at once. Killed jobs stay `active` under a
 * lock that lapses; the stalled-job check (WORKER_LOCK_DURATION_MS / WORKER_STALLED_INTERVAL_MS, shortened here)
 * hands them to a worker again, where the inbox makes the rerun safe. A command whose transaction committed just
 * before the kill leaves its outbox rows unpublished: the scheduler's relay publishes them.
 * Then the database is compared with the commands accepted.
 */

const QUARTER = 15 * 60_000;
const HOUR = 3_600_000;
const FUTURE_SPACES = 20;
const SOON_SPACES = 50;
const FUTURE_CREATES = 750;
const CART_USERS = 50;
const SEND_CONCURRENCY = 12;
const NOTIFICATION_CONCURRENCY = 8;

let stack: Stack;
let db: pg.Client;
let stalledEvents: QueueEvents;
let stalled = 0;
const workers: ServiceProcess[] = [];
let scheduler: ServiceProcess;

const staff = makeUser('staff');
const members = Array.from({ length: 100 }, (_, i) => makeUser('member', `m${i}`));
const cartUsers = Array.from({ length: CART_USERS }, (_, i) => makeUser('member', `c${i}`));
let futureSpaces: string[] = [];
let soonSpaces: string[] = [];

const processEnv = () => ({
  DATABASE_URL: stack.config.db.url,
  REDIS_URL,
  QUEUE_PREFIX: stack.config.queue.prefix,
  COMMAND_CONCURRENCY: '8',
  NOTIFICATION_CONCURRENCY: String(NOTIFICATION_CONCURRENCY),
  DATABASE_POOL_MAX: '8',
  // A killed job is found stalled within seconds instead of the production 30 s (long enough that a busy but live
  // worker on two loaded cores still renews its locks in time).
  WORKER_LOCK_DURATION_MS: '6000',
  WORKER_STALLED_INTERVAL_MS: '3000',
  // An email whose sender was killed mid-send stays claimed for the lease (60 s); its retries give up quickly here.
  EMAIL_ATTEMPTS: '3',
  EMAIL_BACKOFF_MS: '200',
  OUTBOX_RELAY_EVERY_MS: '1000',
  OUTBOX_RELAY_GRACE_MS: '2000',
  SHUTDOWN_TIMEOUT_MS: '20000',
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { COMMAND_ATTEMPTS: '10', COMMAND_BACKOFF_MS: '100', DATABASE_POOL_MAX: '8' } });
  db = new pg.Client({ connectionString: directDbUrl(stack) });
  await db.connect();
  stalledEvents = new QueueEvents(QUEUE_NAMES.commands, { connection: createRedis(REDIS_URL, 'worker'), prefix: stack.config.queue.prefix });
  stalledEvents.on('stalled', () => stalled++);
  stalledEvents.on('error', () => {});
  await stalledEvents.waitUntilReady();

  const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'Chaos Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 1900 } });
  expect(ws.status).toBe(201);
  const space = async (i: number) => {
    const res = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
      as: admin,
      body: { name: `Desk ${i}`, kind: 'desk', capacity: 4, hourlyRate: 1000, dailyRate: 6000, monthlyRate: 90000 },
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  futureSpaces = await mapLimit(Array.from({ length: FUTURE_SPACES }, (_, i) => i), 8, space);
  soonSpaces = await mapLimit(Array.from({ length: SOON_SPACES }, (_, i) => FUTURE_SPACES + i), 8, space);

  workers.push(spawnService('workers/worker.ts', processEnv()), spawnService('workers/worker.ts', processEnv()));
  scheduler = spawnService('workers/scheduler.ts', processEnv());
  await Promise.all([...workers, scheduler].map((p) => p.ready()));
});

afterAll(async () => {
  for (const p of [...workers, scheduler]) if (p) await stopService(p, 'SIGKILL');
  await stalledEvents?.close();
  await db?.end();
  await stack?.close();
});

interface Spec {
  name: string;
  method: string;
  path: string;
  as: TestUser;
  body?: unknown;
  expect: 'completed' | 'failed';
}

describe('worker processes SIGKILLed mid-run, several times', () => {
  it('every accepted command is applied exactly once, every event notified once, no overlap, nothing stuck', async () => {
    // Check-in needs bookings starting within 15 minutes. They are created and confirmed first (wave 0), so none is
    // still pending at its start (the scheduler would expire it); a start 30 s away leaves time enough for that.
    let soon = Math.ceil(Date.now() / QUARTER) * QUARTER;
    if (soon - Date.now() < 30_000) {
      await sleep(soon - Date.now() + 1000);
      soon = Math.ceil(Date.now() / QUARTER) * QUARTER;
    }
    const future = Math.ceil((Date.now() + 48 * HOUR) / QUARTER) * QUARTER;
    const window = (start: number, hours = 1) => ({ startsAt: new Date(start).toISOString(), endsAt: new Date(start + hours * HOUR).toISOString() });

    const ledger: Accepted[] = [];
    const apiRefusals: { name: string; status: number; body: unknown }[] = [];
    let kills = 0;
    let killChain = Promise.resolve();

    /** SIGKILL one worker (alternating) while jobs are active, and start a new one in its place at once. */
    const killOne = async () => {
      const i = kills % workers.length;
      await workers[i]!.ready();
      await until('active command jobs', async () => (await stack.queues.commands.getJobCounts('active')).active > 0, 10_000, 10).catch(() => undefined);
      workers[i]!.child.kill('SIGKILL');
      expect((await workers[i]!.exited).signal).toBe('SIGKILL');
      kills++;
      workers[i] = spawnService('workers/worker.ts', processEnv());
    };

    /** Sends a wave, killing a worker as the sending passes each fraction of `killAt`; waits until the wave is applied. */
    async function wave(specs: Spec[], killAt: number[]) {
      const points = [...killAt];
      let sent = 0;
      const ids: string[] = [];
      await mapLimit(specs, SEND_CONCURRENCY, async (s) => {
        const res = await stack.request(s.method, s.path, { as: s.as, ...(s.body !== undefined ? { body: s.body } : {}) });
        if (res.status === 202) {
          ledger.push({ jobId: res.body.jobId, name: s.name, expect: s.expect });
          ids.push(res.body.jobId);
        } else apiRefusals.push({ name: s.name, status: res.status, body: res.body });
        sent++;
        if (points.length && sent / specs.length >= points[0]!) {
          points.shift();
          killChain = killChain.then(killOne);
        }
      });
      await killChain;
      await until(`${ids.length} commands of the wave to be applied`, async () => (await countFinished(db, ids)) === ids.length, 180_000, 250);
      return ids;
    }

    const bookings = '/api/v1/booking/bookings';
    const create = (i: number): Spec => ({
      name: 'booking.create',
      method: 'POST',
      path: bookings,
      as: members[i % members.length]!,
      body: { spaceId: futureSpaces[i % FUTURE_SPACES]!, bookingType: 'hourly', ...window(future + Math.floor(i / FUTURE_SPACES) * HOUR) },
      expect: 'completed',
    });
    const soonCreate = (i: number): Spec => ({
      name: 'booking.create',
      method: 'POST',
      path: bookings,
      as: members[i % members.length]!,
      body: { spaceId: soonSpaces[i]!, bookingType: 'hourly', ...window(soon, 2) },
      expect: 'completed',
    });
    const addItem = (u: number, n: number): Spec => ({
      name: 'cart.add-item',
      method: 'POST',
      path: '/api/v1/booking/cart/add-item',
      as: cartUsers[u]!,
      body: { spaceId: futureSpaces[u % FUTURE_SPACES]!, bookingType: 'hourly', ...window(future + (100 + 2 * u + n) * HOUR) },
      expect: 'completed',
    });

    const owner = (i: number) => members[i % members.length]!;
    const onBooking = (name: string, id: string, action: string, as: TestUser, expectOutcome: 'completed' | 'failed' = 'completed', body?: unknown): Spec => ({
      name,
      method: action === 'PATCH' ? 'PATCH' : action === 'DELETE' ? 'DELETE' : 'POST',
      path: action === 'PATCH' || action === 'DELETE' ? `${bookings}/${id}` : `${bookings}/${id}/${action}`,
      as,
      body,
      expect: expectOutcome,
    });
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    const failedIn = async (ids: string[]) =>
      (await db.query('select name, error from processed_commands where id = any($1::text[]) and outcome = $2', [ids, 'failed'])).rows;

    // Wave 0: the starting-soon bookings, then their confirmation.
    const w0 = range(0, SOON_SPACES).map(soonCreate);
    const w0ids = await wave(w0, []);
    expect(await failedIn(w0ids)).toEqual([]);
    const soonIdOf = new Map(
      (await db.query<{ id: string; space_id: string }>('select id, space_id from bookings where space_id = any($1::uuid[])', [soonSpaces])).rows.map(
        (b) => [soonSpaces.indexOf(b.space_id), b.id],
      ),
    );
    expect(soonIdOf.size).toBe(SOON_SPACES);
    const w0b = range(0, SOON_SPACES).map((i) => onBooking('booking.confirm', soonIdOf.get(i)!, 'confirm', staff));
    expect(await failedIn(await wave(w0b, []))).toEqual([]);

    // Wave 1: creates on distinct slots and cart holds.
    const w1: Spec[] = [...range(0, FUTURE_CREATES).map(create), ...range(0, CART_USERS * 2).map((k) => addItem(k >> 1, k & 1))];
    const w1ids = await wave(w1, [0.3, 0.75]);
    const w1Failed = await failedIn(w1ids);
    expect(w1Failed, JSON.stringify(w1Failed.slice(0, 5))).toEqual([]);
    // Creates were answered in any order: map each booking back to its spec by its space and start.
    const bookingIdOf = new Map<number, string>();
    const future1 = await db.query<{ id: string; space_id: string; starts_at: Date }>('select id, space_id, starts_at from bookings where space_id = any($1::uuid[])', [futureSpaces]);
    for (const b of future1.rows) bookingIdOf.set(Math.round((b.starts_at.getTime() - future) / HOUR) * FUTURE_SPACES + futureSpaces.indexOf(b.space_id), b.id);
    expect(bookingIdOf.size).toBe(FUTURE_CREATES);

    // Wave 2: confirm, cancel, edit, checkout. One command per booking per wave.
    const w2: Spec[] = [
      ...range(0, 300).map((i) => onBooking('booking.confirm', bookingIdOf.get(i)!, 'confirm', staff)),
      ...range(300, 450).map((i) => onBooking('booking.cancel', bookingIdOf.get(i)!, 'cancel', owner(i), 'completed', { reason: `plans changed ${i}` })),
      ...range(450, 700).map((i) => onBooking('booking.update', bookingIdOf.get(i)!, 'PATCH', owner(i), 'completed', { notes: `note ${i}` })),
      ...range(0, CART_USERS).map((u): Spec => ({ name: 'cart.checkout', method: 'POST', path: '/api/v1/booking/cart/checkout', as: cartUsers[u]!, expect: 'completed' })),
    ];
    await wave(w2, [0.2, 0.6]);

    // Wave 3: check in the soon ones, cancel confirmed ones, and check-ins that must be refused (still pending).
    const w3: Spec[] = [
      ...range(0, SOON_SPACES).map((i) => onBooking('booking.check-in', soonIdOf.get(i)!, 'check-in', owner(i))),
      ...range(0, 100).map((i) => onBooking('booking.cancel', bookingIdOf.get(i)!, 'cancel', staff, 'completed', { reason: 'space closed' })),
      ...range(450, 500).map((i) => onBooking('booking.check-in', bookingIdOf.get(i)!, 'check-in', owner(i), 'failed')),
    ];
    await wave(w3, [0.4]);

    // Wave 4: check out, delete cancelled bookings.
    const w4: Spec[] = [
      ...range(0, SOON_SPACES).map((i) => onBooking('booking.check-out', soonIdOf.get(i)!, 'check-out', owner(i))),
      ...range(300, 350).map((i) => onBooking('booking.delete', bookingIdOf.get(i)!, 'DELETE', owner(i))),
    ];
    await wave(w4, [0.5]);

    // Drained: nothing waiting, delayed or stuck active in either queue; every event published and notified.
    await until('the command queue to drain', async () => (await unfinishedJobs(stack.queues.commands)) === 0, 60_000, 250);
    const outboxState = async () =>
      (
        await db.query<{ total: number; unpublished: number; unnotified: number; emails: number }>(
          `select count(*)::int as total, count(*) filter (where published_at is null)::int as unpublished,
                  count(*) filter (where not exists (select 1 from notifications n where n.outbox_id = o.id))::int as unnotified,
                  (select count(distinct outbox_id)::int from email_sends) as emails
             from outbox o`,
        )
      ).rows[0]!;
    await until('every event to be published, notified and its email claimed', async () => {
      const s = await outboxState();
      return s.unpublished === 0 && s.unnotified === 0 && s.emails === s.total;
    }, 120_000, 500);
    await until('the notifications queue to drain', async () => (await unfinishedJobs(stack.queues.notifications)) === 0, 60_000, 250);
    expect((await stack.queues.commands.getJobCounts('active')).active).toBe(0);
    expect((await stack.queues.notifications.getJobCounts('active')).active).toBe(0);
    const workerWarnings = workers.flatMap((w) => w.warnings);
    for (const p of [...workers, scheduler]) await stopService(p);

    const verdict = await verifyLedger(directDbUrl(stack), ledger, { exclusive: true, notifications: true });
    const emails = (
      await db.query<{ sent: number; sending: number; rows: number; recipients: number }>(
        `select count(*) filter (where status = 'sent')::int as sent, count(*) filter (where status = 'sending')::int as sending,
                count(*)::int as rows, count(distinct (outbox_id, recipient))::int as recipients from email_sends`,
      )
    ).rows[0]!;
    const serverErrors = apiRefusals.filter((r) => r.status >= 500).length;
    recordSummary({
      scenario: '1. worker processes SIGKILLed (2 workers + scheduler)',
      commands: ledger.length,
      faults: `${kills} × SIGKILL + restart`,
      lost: verdict.lost,
      duplicated: verdict.duplicated,
      serverErrors,
      notes: `${stalled} stalled jobs re-run; ${verdict.completed} applied, ${verdict.refused} refused as planned; ${verdict.events} events → ${verdict.events} notifications; emails ${emails.sent} sent, ${emails.sending} cut off mid-send (claim lease)`,
    });

    expect(apiRefusals, JSON.stringify(apiRefusals.slice(0, 5))).toEqual([]);
    expect(ledger).toHaveLength(w0.length + w0b.length + w1.length + w2.length + w3.length + w4.length);
    expect(verdict.problems, `${verdict.problems.join('\n')}\nworker warnings: ${JSON.stringify(workerWarnings.slice(0, 5))}`).toEqual([]);
    expect(verdict.lost).toBe(0);
    expect(verdict.duplicated).toBe(0);
    expect(verdict.refused).toBe(50);
    expect(verdict.refusals).toEqual({ invalid_transition: 50 });
    expect(kills).toBeGreaterThanOrEqual(6);
    // The kills hit running jobs, which were handed to a worker again.
    expect(stalled).toBeGreaterThan(0);
    // One email row per event and recipient; an email cut off mid-send stays claimed, never sent twice.
    expect(emails.rows).toBe(emails.recipients);
    expect(emails.sent + emails.sending).toBe(verdict.events);
    expect(emails.sending).toBeLessThanOrEqual(kills * NOTIFICATION_CONCURRENCY);
  });
});
