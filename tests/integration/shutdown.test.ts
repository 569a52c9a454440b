import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BookingEventSchema, BookingSchema, OutboxSchema, ProcessedCommandSchema } from '../../src/db/entities/index.js';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { metricValue } from '../helpers/prometheus.js';
import { spawnCommand, spawnEntrypoint } from '../helpers/entrypoints.js';
import { until as untilWithin } from '../helpers/follow-ups.js';
import { makeUser, REDIS_URL, startStack, tokenFor, type Stack } from '../helpers/stack.js';
import { unusedPort } from '../helpers/tcp-proxy.js';

/** Waits up to 20 s (a spawned process starts through tsx). */
const until = <T>(what: string, check: () => Promise<T> | T) => untilWithin(what, check, 20_000, 50);

/**
 * Graceful shutdown of the real worker process (`workers/worker.ts`, spawned through tsx). A job is made long
 * without any hook in production code: the test holds the booking's row lock (SELECT … FOR UPDATE in its own
 * transaction), so the worker's command waits on it inside its transaction.
 */
let stack: Stack;
let spaceId: string;
const member = makeUser('member');
const staff = makeUser('staff');
const children: ChildProcess[] = [];
const lockers: pg.Client[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false });
  spaceId = (await seedSpace(stack)).space.id;
});
afterEach(async () => {
  for (const c of lockers.splice(0)) await c.end().catch(() => {});
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => stack?.close());

/**
 * A process entrypoint (the worker by default; `npm:<script>` for `npm run <script>`) with this file's database and
 * queue prefix; its JSON log lines are collected.
 */
function spawnWorker(env: Record<string, string> = {}, entry = 'workers/worker.ts') {
  const lines: Record<string, any>[] = [];
  const fullEnv = { DATABASE_URL: stack.config.db.url, REDIS_URL, QUEUE_PREFIX: stack.config.queue.prefix, COMMAND_CONCURRENCY: '2', DATABASE_POOL_MAX: '4', ...env };
  const spawnIt = (onLine: (line: string) => void) =>
    entry.startsWith('npm:') ? spawnCommand('npm', ['run', '--silent', entry.slice(4)], fullEnv, onLine) : spawnEntrypoint(entry, fullEnv, onLine);
  const { child, exited, stderr } = spawnIt((p) => {
    try {
      lines.push(JSON.parse(p));
    } catch {
      /* not a log line */
    }
  });
  children.push(child);
  const logged = (msg: string) => until(`worker log "${msg}" (stderr: ${stderr().slice(-500)})`, () => lines.find((l) => l.msg === msg));
  return {
    child,
    lines,
    exited,
    logged,
    /** Resolves with the health port once the process is fully started (the health server starts last). */
    ready: async () => (await until(`worker start (stderr: ${stderr().slice(-500)})`, () => lines.find((l) => typeof l.healthPort === 'number'))).healthPort as number,
  };
}

const em = () => stack.orm.em.fork();

/** Holds the booking's row lock in a transaction of the test's own, until released. */
async function lockBooking(bookingId: string) {
  const client = new pg.Client({ connectionString: stack.config.db.url });
  lockers.push(client);
  await client.connect();
  await client.query('begin');
  await client.query('select id from bookings where id = $1 for update', [bookingId]);
  return { release: (how: 'commit' | 'rollback' = 'rollback') => client.query(how) };
}

/** Some other session of this database waits for a row lock (the worker's command, inside its transaction). */
const someoneWaitsOnLock = async () =>
  (
    await stack.orm.em
      .fork()
      .getConnection()
      .execute(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)
  )[0].n > 0;

async function pendingBooking(hoursAhead: number) {
  const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(hoursAhead) } });
  expect(res.status).toBe(202);
  expect(await waitForJob(stack, member, res.body.jobId, 30_000)).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  return res.body.bookingId as string;
}

describe('worker process, SIGTERM', () => {
  it('while idle: stops at once and exits 0', async () => {
    const worker = spawnWorker();
    const port = await worker.ready();
    // The same start checks as every process: the queue Redis's eviction policy.
    expect(worker.lines.find((l) => l.msg === 'queue Redis maxmemory-policy is noeviction')).toBeTruthy();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', migrations: 'ok' } });

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
  });

  it('during a long job: the job finishes, exactly once, then the process exits 0', async () => {
    const worker = spawnWorker();
    const port = await worker.ready();
    const bookingId = await pendingBooking(30);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metricValue(metrics, 'jobs_total', { name: 'booking.create', outcome: 'completed' })).toBe(1);

    const lock = await lockBooking(bookingId);
    const confirm = await stack.request('POST', `/api/v1/booking/bookings/${bookingId}/confirm`, { as: staff });
    expect(confirm.status).toBe(202);
    const jobId: string = confirm.body.jobId;
    await until('the confirm job to block on the row lock', someoneWaitsOnLock);
    expect(await stack.queues.commands.getJobState(jobId)).toBe('active');

    worker.child.kill('SIGTERM');
    await worker.logged('shutting down');
    // Still draining: the process waits for its active job, which waits for the lock. Nothing is applied yet.
    expect(worker.child.exitCode).toBeNull();
    expect((await em().findOneOrFail(BookingSchema, bookingId)).status).toBe('pending');
    // Every worker of the process stopped fetching at the signal, not only once the command worker has drained: a
    // notification job added now stays queued for the next process (closed one after another, the notifications
    // worker took it at once).
    const probe = await stack.queues.notifications.add('BOOKING_CREATED', {} as never, { jobId: `shutdown-probe-${jobId}` });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(worker.child.exitCode).toBeNull();

    await lock.release('commit');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.lines.find((l) => l.msg === 'stopped')).toBeTruthy();
    expect(await probe.getState()).toBe('waiting');
    await probe.remove();

    expect(await waitForJob(stack, staff, jobId)).toMatchObject({ state: 'completed', result: { bookingId, status: 'confirmed' } });
    const booking = await em().findOneOrFail(BookingSchema, bookingId);
    expect(booking.status).toBe('confirmed');
    expect(await em().count(BookingEventSchema, { bookingId, action: 'confirm' })).toBe(1);
    expect(await em().count(BookingEventSchema, { commandId: jobId })).toBe(1);
    expect(await em().count(OutboxSchema, { aggregateId: bookingId, eventType: 'BOOKING_CONFIRMED' })).toBe(1);
    expect(await em().count(ProcessedCommandSchema, { id: jobId })).toBe(1);
  });

  it('past the shutdown budget: exits 1 and the cut-off job left nothing half-applied (it is redelivered later)', async () => {
    const worker = spawnWorker({ SHUTDOWN_TIMEOUT_MS: '300' });
    await worker.ready();
    const bookingId = await pendingBooking(40);
    const lock = await lockBooking(bookingId);
    const confirm = await stack.request('POST', `/api/v1/booking/bookings/${bookingId}/confirm`, { as: staff });
    const jobId: string = confirm.body.jobId;
    await until('the confirm job to block on the row lock', someoneWaitsOnLock);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    expect(worker.lines.find((l) => l.msg === 'shutdown timed out; exiting')).toBeTruthy();

    // The dead worker's transaction can never commit: once the lock is free its session finds the client gone.
    await lock.release('rollback');
    await until('the dead worker session to end', async () => !(await someoneWaitsOnLock()) && (await otherSessionsInTransaction()) === 0);
    expect((await em().findOneOrFail(BookingSchema, bookingId)).status).toBe('pending');
    expect(await em().count(BookingEventSchema, { bookingId, action: 'confirm' })).toBe(0);
    expect(await em().count(OutboxSchema, { aggregateId: bookingId, eventType: 'BOOKING_CONFIRMED' })).toBe(0);
    expect(await em().count(ProcessedCommandSchema, { id: jobId })).toBe(0);
    // Still active in Redis under the dead worker's lock: BullMQ's stalled-job check hands it to a worker again.
    expect(await stack.queues.commands.getJobState(jobId)).toBe('active');
  });
});

describe('scheduler process', () => {
  it('serves its health endpoints on HEALTH_PORT, sweeps included in /readyz, and stops on SIGTERM with exit 0', async () => {
    const scheduler = spawnWorker({}, 'workers/scheduler.ts');
    const port = await scheduler.ready();
    expect(scheduler.lines.find((l) => l.msg === 'queue Redis maxmemory-policy is noeviction')).toBeTruthy();
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = await ready.json();
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(body.checks).toMatchObject({ postgres: 'ok', redis: 'ok', migrations: 'ok', sweeps: 'ok' });
    // Its sweeps run at once, and their last success reaches its /metrics.
    await until('a sweep to succeed', async () =>
      metricValue(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'maintenance_sweep_last_success_timestamp_seconds', { sweep: 'sweep.expire' }) > 0,
    );
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toEqual({ code: 0, signal: null });
  });
});

/** Sessions of this database, other than the caller's, that are inside a transaction. */
const otherSessionsInTransaction = async () =>
  (
    await stack.orm.em
      .fork()
      .getConnection()
      .execute(`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null`)
  )[0].n as number;

describe('web process, SIGTERM', () => {
  it('answers an open Prefer: wait at once (202) and exits 0, rather than waiting it out', async () => {
    const web = spawnWorker({ PORT: '0' }, 'src/web.ts');
    const port = (await until('the API to listen', () => web.lines.find((l) => typeof l.port === 'number'))).port as number;
    const token = await tokenFor(member);
    // No worker runs here: the command stays queued, and the request would wait its 30 s.
    const answer = fetch(`http://127.0.0.1:${port}/api/v1/booking/bookings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', prefer: 'wait=30' },
      body: JSON.stringify({ spaceId, bookingType: 'hourly', ...hourlySlot(700) }),
      signal: AbortSignal.timeout(15_000),
    });
    await until('the command to be queued', async () => (await stack.queues.commands.getJobCounts('waiting')).waiting >= 1);
    web.child.kill('SIGTERM');
    const res = await answer;
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ jobId: expect.any(String), statusUrl: expect.any(String) });
    expect((await web.exited).code).toBe(0);
  });
});

describe('every process, SIGTERM with its Redis unreachable', () => {
  it('web, worker and scheduler stop at once and exit 0, rather than waiting for a Redis that does not come', async () => {
    // A port nothing listens on: each process starts (the API answers 503), and its connections keep retrying.
    const deadPort = await unusedPort();
    // A budget short of the test's timeout: a close that waits on Redis ends at it with exit 1.
    const env = { REDIS_URL: `redis://127.0.0.1:${deadPort}`, PORT: '0', HEALTH_PORT: '0', SHUTDOWN_TIMEOUT_MS: '8000' };
    const processes = [
      spawnWorker(env, 'src/web.ts'),
      spawnWorker(env, 'workers/worker.ts'),
      spawnWorker(env, 'workers/scheduler.ts'),
    ];
    await until('the API to listen', () => processes[0]!.lines.find((l) => typeof l.port === 'number'));
    await processes[1]!.ready();
    await processes[2]!.ready();
    for (const p of processes) p.child.kill('SIGTERM');
    for (const p of processes) {
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(p.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    }
  });
});

describe('npm run start:web, SIGTERM to npm (as a supervisor of `npm start` sends it)', () => {
  it('reaches the service, which stops and exits 0: npm exits with it, leaving nothing behind', async () => {
    const web = spawnWorker({ PORT: '0' }, 'npm:start:web');
    const port = (await until('the API to listen', () => web.lines.find((l) => typeof l.port === 'number'))).port as number;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    web.child.kill('SIGTERM'); // npm's pid: the script's shell execs tsx, to which npm forwards the signal
    expect((await web.exited).code).toBe(0);
    expect(web.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    // Nothing is left listening on the port.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
