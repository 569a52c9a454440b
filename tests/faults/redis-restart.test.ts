import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayOutbox } from '../../src/follow-ups/outbox.js';
import { admin } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, startStack, type Stack, type TestResponse, type TestUser } from '../helpers/stack.js';
import { countFinished, directDbUrl, mapLimit, unfinishedJobs, verifyLedger, type Accepted } from './helpers/ledger.js';
import { throwawayRedis, type RedisServer } from './helpers/processes.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 2: the queue Redis (a throwaway redis-server on its own port, persisted like a production queue Redis:
 * append-only file, `appendfsync always`) crashes (SIGKILL) and is shut down cleanly while commands flow.
 * While it is down the API answers 503 with the error envelope, never 500; reads that need only Postgres keep
 * answering. Clients behave as they should: each command carries an Idempotency-Key and is re-sent on 503 until
 * accepted. "Accepted" means answered 202: the job is then in Redis's append-only file, so it survives the restart,
 * and every accepted command is applied exactly once.
 */

const HOUR = 3_600_000;
const QUARTER = 15 * 60_000;
const SPACES = 5;
const CREATES = 300;
const CONFIRMS = 150;

let redis: RedisServer;
let stack: Stack;
let db: pg.Client;
const spaces: string[] = [];
const staff = makeUser('staff');
const members = Array.from({ length: 30 }, (_, i) => makeUser('member', `r${i}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await throwawayRedis();
  stack = await startStack({
    redisPort: redis.port,
    notifications: true,
    env: {
      COMMAND_ATTEMPTS: '10',
      COMMAND_BACKOFF_MS: '100',
      COMMAND_CONCURRENCY: '8',
      WORKER_LOCK_DURATION_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      NOTIFICATION_BACKOFF_MS: '100',
    },
  });
  db = new pg.Client({ connectionString: directDbUrl(stack) });
  await db.connect();
  const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'Redis Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 0 } });
  expect(ws.status).toBe(201);
  for (let i = 0; i < SPACES; i++) {
    const s = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
      as: admin,
      body: { name: `Room ${i}`, kind: 'meeting_room', capacity: 4, hourlyRate: 1000, dailyRate: 6000, monthlyRate: 90000 },
    });
    expect(s.status).toBe(201);
    spaces.push(s.body.id);
  }
});

afterAll(async () => {
  await redis?.start().catch(() => undefined);
  await db?.end();
  await stack?.close();
  await redis?.destroy();
});

describe('Redis crashes and restarts while commands flow', () => {
  it('503 while it is down, never 500; every accepted command applied exactly once after it returns', async () => {
    const ledger: Accepted[] = [];
    const statuses = new Map<number, number>();
    let maxAnswerMs = 0;
    let resent = 0;
    const count = (res: TestResponse, started: number) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      maxAnswerMs = Math.max(maxAnswerMs, Date.now() - started);
    };
    const unexpected: { status: number; body: unknown }[] = [];

    /** A well-behaved client: one Idempotency-Key per command, re-sent on 503 until accepted. */
    async function send(name: string, method: string, path: string, as: TestUser, body?: unknown) {
      const key = randomUUID();
      for (let attempt = 0; ; attempt++) {
        const started = Date.now();
        const res = await stack.request(method, path, { as, headers: { 'idempotency-key': key }, ...(body !== undefined ? { body } : {}) });
        count(res, started);
        if (res.status === 202) {
          ledger.push({ jobId: res.body.jobId, name, expect: 'completed' });
          return res.body as { jobId: string; bookingId: string };
        }
        if (res.status !== 503) {
          unexpected.push({ status: res.status, body: res.body });
          throw new Error(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
        }
        expect(res.body.error.code).toBe('service_unavailable');
        resent++;
        if (attempt > 600) throw new Error(`${name}: still 503 after ${attempt} attempts`);
        await sleep(100);
      }
    }

    /** Reads keep flowing next to the commands: Postgres-only reads answer, Redis-backed ones 503, none 500. */
    let reading = true;
    const readerStatuses = new Map<number, number>();
    const reader = (async () => {
      while (reading) {
        const last = ledger.at(-1);
        const started = Date.now();
        const reads = await Promise.all([
          stack.request('GET', '/api/v1/booking/bookings?pageSize=5', { as: staff }),
          stack.request('GET', `/api/v1/spaces/${spaces[0]}`, { as: staff }),
          ...(last ? [stack.request('GET', `/api/v1/jobs/${last.jobId}`, { as: staff })] : []),
        ]);
        for (const r of reads) {
          count(r, started);
          readerStatuses.set(r.status, (readerStatuses.get(r.status) ?? 0) + 1);
          if (r.status >= 500 && r.status !== 503) unexpected.push({ status: r.status, body: r.body });
        }
        await sleep(50);
      }
    })();

    /** Takes Redis down when `ledger` reaches `at` accepted commands, keeps it down `downMs`, starts it again. */
    let faults = 0;
    const outage = async (at: number, signal: NodeJS.Signals, downMs: number) => {
      await until(`${at} accepted commands`, () => ledger.length >= at, 120_000, 10);
      await redis.stop(signal);
      faults++;
      await sleep(downMs);
      await redis.start();
    };

    const future = Math.ceil((Date.now() + 72 * HOUR) / QUARTER) * QUARTER;
    const window = (k: number) => ({
      startsAt: new Date(future + Math.floor(k / SPACES) * HOUR).toISOString(),
      endsAt: new Date(future + (Math.floor(k / SPACES) + 1) * HOUR).toISOString(),
    });
    const created: { bookingId: string; jobId: string }[] = [];
    const phase1 = Promise.all([outage(CREATES / 3, 'SIGKILL', 2500), outage((2 * CREATES) / 3, 'SIGTERM', 2500)]);
    await mapLimit(Array.from({ length: CREATES }, (_, k) => k), 8, async (k) => {
      const accepted = await send('booking.create', 'POST', '/api/v1/booking/bookings', members[k % members.length]!, {
        spaceId: spaces[k % SPACES],
        bookingType: 'hourly',
        ...window(k),
      });
      created.push(accepted);
    });
    await phase1;
    const createIds = created.map((c) => c.jobId);
    await until('every accepted create to be applied', async () => (await countFinished(db, createIds)) === createIds.length, 120_000, 250);

    // Phase 2: confirms of half of them, with one more crash in the middle.
    const phase2 = outage(ledger.length + CONFIRMS / 2, 'SIGKILL', 2500);
    await mapLimit(created.slice(0, CONFIRMS), 8, (c) => send('booking.confirm', 'POST', `/api/v1/booking/bookings/${c.bookingId}/confirm`, staff));
    await phase2;
    reading = false;
    await reader;

    const ids = ledger.map((a) => a.jobId);
    await until('every accepted command to be applied', async () => (await countFinished(db, ids)) === ids.length, 120_000, 250);
    await until('the command queue to drain', async () => (await unfinishedJobs(stack.queues.commands)) === 0, 60_000, 250);
    // After-commit publishing failed while Redis was down: the relay (the scheduler's job) publishes what was left.
    await until('the relay to publish every event and each to be notified', async () => {
      await relayOutbox({ orm: stack.orm, queues: stack.queues, config: stack.config }, new Date(Date.now() + stack.config.followUps.relayGraceMs));
      const { rows } = await db.query<{ left: number }>(
        `select count(*)::int as left from outbox o where o.published_at is null or not exists (select 1 from notifications n where n.outbox_id = o.id)`,
      );
      return rows[0]!.left === 0;
    }, 120_000, 500);

    const verdict = await verifyLedger(directDbUrl(stack), ledger, { exclusive: true, notifications: true });
    const n503 = statuses.get(503) ?? 0;
    const serverErrors = [...statuses].filter(([s]) => s >= 500 && s !== 503).reduce((sum, [, n]) => sum + n, 0);
    recordSummary({
      scenario: '2. queue Redis crash/restart (AOF, appendfsync always)',
      commands: ledger.length,
      faults: `${faults} × Redis down ~2.5 s (2 SIGKILL, 1 clean shutdown)`,
      lost: verdict.lost,
      duplicated: verdict.duplicated,
      serverErrors,
      notes: `${n503} answers 503 while down (${resent} commands re-sent with their Idempotency-Key); slowest answer ${maxAnswerMs} ms; ${verdict.events} events → ${verdict.events} notifications`,
    });

    expect(unexpected, JSON.stringify(unexpected.slice(0, 5))).toEqual([]);
    expect(serverErrors).toBe(0);
    expect(faults).toBe(3);
    // The outages were seen: commands were refused with 503 and re-sent.
    expect(n503).toBeGreaterThan(0);
    expect(resent).toBeGreaterThan(0);
    // Reads of Postgres data never failed for lack of Redis (the cache falls back).
    expect([...readerStatuses.keys()].every((s) => s === 200 || s === 503)).toBe(true);
    expect(ledger).toHaveLength(CREATES + CONFIRMS);
    expect(verdict.problems, verdict.problems.join('\n')).toEqual([]);
    expect(verdict.lost).toBe(0);
    expect(verdict.duplicated).toBe(0);
    expect(verdict.completed).toBe(CREATES + CONFIRMS);
    expect(verdict.bookings).toBe(CREATES);
  });
});
