import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayOutbox } from '../../src/follow-ups/outbox.js';
import { PG_BASE } from '../helpers/db.js';
import { admin } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, startStack, type Stack, type TestUser } from '../helpers/stack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { countFinished, directDbUrl, mapLimit, unfinishedJobs, verifyLedger, type Accepted } from './helpers/ledger.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 3: Postgres becomes unreachable for a while (a TCP proxy in front of it is cut: every open connection
 * dropped, new ones refused), then freezes (open connections stop answering, new ones are never answered, as under
 * SIGSTOP), while commands are being applied. Jobs meeting the outage fail on the fault and
 * retry with exponential backoff; once Postgres returns they complete. Transactions cut mid-way commit nothing, so
 * no booking lacks its claim, audit row or outbox event; a commit whose answer was lost is found in the inbox on
 * the retry. The API answers 503 during the outage (clients re-send with their Idempotency-Key).
 */

const HOUR = 3_600_000;
const QUARTER = 15 * 60_000;
const SPACES = 6;
const CREATES = 300;
const OUTAGE_MS = 4000;

let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let stack: Stack;
let db: pg.Client;
const spaces: string[] = [];
const staff = makeUser('staff');
const members = Array.from({ length: 30 }, (_, i) => makeUser('member', `p${i}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const target = new URL(PG_BASE);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  stack = await startStack({
    pgPort: proxy.port,
    notifications: true,
    env: {
      COMMAND_ATTEMPTS: '15',
      COMMAND_BACKOFF_MS: '100',
      COMMAND_CONCURRENCY: '6',
      NOTIFICATION_ATTEMPTS: '15',
      NOTIFICATION_BACKOFF_MS: '100',
      DATABASE_POOL_MAX: '8',
      DATABASE_QUERY_TIMEOUT_MS: '1000',
    },
  });
  db = new pg.Client({ connectionString: directDbUrl(stack) });
  await db.connect();
  const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'PG Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 700 } });
  expect(ws.status).toBe(201);
  for (let i = 0; i < SPACES; i++) {
    const s = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
      as: admin,
      body: { name: `Office ${i}`, kind: 'office', capacity: 3, hourlyRate: 1200, dailyRate: 7000, monthlyRate: 99000 },
    });
    expect(s.status).toBe(201);
    spaces.push(s.body.id);
  }
});

afterAll(async () => {
  proxy?.up();
  await db?.end();
  await stack?.close();
  await proxy?.close();
});

describe('Postgres unreachable for a while, then frozen', () => {
  it('jobs retry with backoff and complete after it returns; nothing half-written, nothing lost or doubled', async () => {
    const ledger: Accepted[] = [];
    const statuses = new Map<number, number>();
    const unexpected: { status: number; body: unknown }[] = [];
    const tally = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);

    /** One Idempotency-Key per command, re-sent on 503 until accepted. */
    async function send(name: string, method: string, path: string, as: TestUser, body?: unknown) {
      const key = randomUUID();
      for (let attempt = 0; ; attempt++) {
        const res = await stack.request(method, path, { as, headers: { 'idempotency-key': key }, ...(body !== undefined ? { body } : {}) });
        tally(res.status);
        if (res.status === 202) return void ledger.push({ jobId: res.body.jobId, name, expect: 'completed' });
        if (res.status !== 503) {
          unexpected.push({ status: res.status, body: res.body });
          throw new Error(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
        }
        if (attempt > 600) throw new Error(`${name}: still 503 after ${attempt} attempts`);
        await sleep(100);
      }
    }

    /**
     * Once `fraction` of `ids()` is applied, cuts Postgres (connections dropped, new ones refused) or freezes it
     * (open connections stop answering, new ones hang: DATABASE_QUERY_TIMEOUT_MS and the connect timeout end the
     * wait); probes the API meanwhile; restores it.
     */
    let outages = 0;
    let probes = 0;
    async function outage(ids: () => string[], total: number, fraction: number, mode: 'cut' | 'freeze') {
      await until(`${fraction} of the commands applied`, async () => (await countFinished(db, ids())) >= total * fraction, 120_000, 20);
      if (mode === 'cut') proxy.down();
      else proxy.freeze();
      outages++;
      const deadline = Date.now() + OUTAGE_MS;
      while (Date.now() < deadline) {
        const [list, create] = await Promise.all([
          stack.request('GET', '/api/v1/booking/bookings', { as: makeUser('member') }),
          stack.request('POST', '/api/v1/booking/bookings', { as: staff, body: { spaceId: spaces[0], bookingType: 'hourly', ...slot(5000) } }),
        ]);
        for (const r of [list, create]) {
          tally(r.status);
          probes++;
          if (r.status !== 503) unexpected.push({ status: r.status, body: r.body });
          else expect(r.body.error.code).toBe('service_unavailable');
        }
        await sleep(200);
      }
      proxy.release();
      proxy.up();
    }

    const future = Math.ceil((Date.now() + 96 * HOUR) / QUARTER) * QUARTER;
    const slot = (k: number) => ({
      startsAt: new Date(future + Math.floor(k / SPACES) * HOUR).toISOString(),
      endsAt: new Date(future + (Math.floor(k / SPACES) + 1) * HOUR).toISOString(),
    });
    const owner = (k: number) => members[k % members.length]!;
    const bookingIds = new Map<number, string>();

    // Phase 1: creates, with Postgres cut once 30% of them are applied.
    const phase1 = outage(() => ledger.map((a) => a.jobId), CREATES, 0.3, 'cut');
    await mapLimit(Array.from({ length: CREATES }, (_, k) => k), 8, async (k) => {
      const key = randomUUID();
      for (;;) {
        const res = await stack.request('POST', '/api/v1/booking/bookings', {
          as: owner(k),
          headers: { 'idempotency-key': key },
          body: { spaceId: spaces[k % SPACES], bookingType: 'hourly', ...slot(k) },
        });
        tally(res.status);
        if (res.status === 202) {
          ledger.push({ jobId: res.body.jobId, name: 'booking.create', expect: 'completed' });
          bookingIds.set(k, res.body.bookingId);
          return;
        }
        if (res.status !== 503) return void unexpected.push({ status: res.status, body: res.body });
        await sleep(100);
      }
    });
    await phase1;
    const creates = ledger.map((a) => a.jobId);
    await until('every create to be applied', async () => (await countFinished(db, creates)) === creates.length, 120_000, 250);

    // Phase 2: confirms, cancels and edits, with Postgres frozen.
    const before = ledger.length;
    const phase2Ids = () => ledger.slice(before).map((a) => a.jobId);
    const phase2 = outage(phase2Ids, 300, 0.3, 'freeze');
    const bookingPath = (k: number) => `/api/v1/booking/bookings/${bookingIds.get(k)}`;
    await mapLimit(Array.from({ length: 300 }, (_, k) => k), 8, async (k) => {
      if (k < 150) return send('booking.confirm', 'POST', `${bookingPath(k)}/confirm`, staff);
      if (k < 225) return send('booking.cancel', 'POST', `${bookingPath(k)}/cancel`, owner(k), { reason: 'outage drill' });
      return send('booking.update', 'PATCH', bookingPath(k), owner(k), { notes: `edited during drill ${k}`, attendees: 2 });
    });
    await phase2;
    const all = ledger.map((a) => a.jobId);
    await until('every command to be applied', async () => (await countFinished(db, all)) === all.length, 120_000, 250);
    await until('the command queue to drain', async () => (await unfinishedJobs(stack.queues.commands)) === 0, 60_000, 250);
    await until('every event published and notified', async () => {
      await relayOutbox({ orm: stack.orm, queues: stack.queues, config: stack.config }, new Date(Date.now() + stack.config.followUps.relayGraceMs));
      const { rows } = await db.query<{ left: number }>(
        `select count(*)::int as left from outbox o where o.published_at is null or not exists (select 1 from notifications n where n.outbox_id = o.id)`,
      );
      return rows[0]!.left === 0;
    }, 120_000, 500);

    // Jobs that met the outage were retried (with backoff) and completed; none failed for good.
    const retried = (await stack.queues.commands.getJobs(['completed'], 0, -1)).filter((j) => j.attemptsMade > 1);
    const failedForGood = (await stack.queues.commands.getJobCounts('failed')).failed;

    const verdict = await verifyLedger(directDbUrl(stack), ledger, { exclusive: true, notifications: true });
    const serverErrors = [...statuses].filter(([s]) => s >= 500 && s !== 503).reduce((sum, [, n]) => sum + n, 0);
    recordSummary({
      scenario: '3. Postgres unreachable (proxy cut), then frozen',
      commands: ledger.length,
      faults: `Postgres cut, then frozen, ${OUTAGE_MS / 1000} s each`,
      lost: verdict.lost,
      duplicated: verdict.duplicated,
      serverErrors,
      notes: `${retried.length} jobs retried with backoff, then completed; ${statuses.get(503) ?? 0} answers 503 while down; ${verdict.events} events → ${verdict.events} notifications`,
    });

    expect(unexpected, JSON.stringify(unexpected.slice(0, 5))).toEqual([]);
    expect(outages).toBe(2);
    expect(probes).toBeGreaterThan(0);
    expect(serverErrors).toBe(0);
    expect(retried.length).toBeGreaterThan(0);
    expect(failedForGood).toBe(0);
    expect(ledger).toHaveLength(CREATES + 300);
    expect(verdict.problems, verdict.problems.join('\n')).toEqual([]);
    expect(verdict.lost).toBe(0);
    expect(verdict.duplicated).toBe(0);
    expect(verdict.completed).toBe(CREATES + 300);
    expect(verdict.bookings).toBe(CREATES);
  });
});
