import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, REDIS_URL, startStack, type Stack } from '../helpers/stack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { PG_BASE } from '../helpers/db.js';
import { BookingSchema } from '../../src/db/entities/index.js';

/**
 * Outages answer 503 (with the error envelope and Retry-After), never 500 and never a hung request; the
 * service recovers by itself when the backing service returns. The test's own timeout bounds "never hung".
 */
let stack: Stack;
let pgProxy: Awaited<ReturnType<typeof startTcpProxy>>;
let redisProxy: Awaited<ReturnType<typeof startTcpProxy>>;
let spaceId: string;
const member = makeUser('member');

beforeAll(async () => {
  const pg = new URL(PG_BASE);
  const redis = new URL(REDIS_URL);
  pgProxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
  redisProxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  // Enough retries with backoff to outlast the outages below.
  stack = await startStack({ pgPort: pgProxy.port, redisPort: redisProxy.port, env: { COMMAND_ATTEMPTS: '12', COMMAND_BACKOFF_MS: '50', DATABASE_QUERY_TIMEOUT_MS: '1500' } });
  spaceId = (await seedSpace(stack)).space.id;
});
afterAll(async () => {
  pgProxy?.up();
  redisProxy?.up();
  await stack?.close();
  await pgProxy?.close();
  await redisProxy?.close();
});

/** A create on a slot of its own (each call the next hour): two of this file's creates never compete for one. */
let nextHour = 1000; // past the fixed slots below (600–950)
const create = () => stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(nextHour++) } });

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Redis down', () => {
  it('commands and job reads answer 503 at once; after Redis returns, commands are accepted and run', async () => {
    redisProxy.down();
    const refused = await create();
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('service_unavailable');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await stack.request('GET', '/api/v1/jobs/some-job', { as: member })).status).toBe(503);
    const ready = await stack.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.redis).toMatch(/^down/);
    // Reads that need only Postgres keep working.
    expect((await stack.request('GET', `/api/v1/spaces/${spaceId}`, { as: member })).status).toBe(200);
    // Bull Board's API too answers the outage as every route does.
    const board = await stack.request('GET', '/admin/queues/api/queues', { as: null, headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
    expect(board.status).toBe(503);
    expect(board.body.error.code).toBe('service_unavailable');

    redisProxy.up();
    const accepted = await eventually(create, (r) => r.status === 202);
    expect(accepted.status).toBe(202);
    expect((await waitForJob(stack, member, accepted.body.jobId, 30_000)).state).toBe('completed');
  });
});

describe('Redis stalled while a command is added', () => {
  it('an unkeyed command answered 503 never applies, though its add reaches Redis late; its job says why', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(800) };
    redisProxy.stall();
    let refused;
    try {
      refused = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body });
    } finally {
      redisProxy.release();
    }
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('service_unavailable');
    const { jobId } = refused.body.error.details;
    // The add the proxy held reaches Redis now, and the job runs: it must meet the fence, not book.
    const state = await eventually(() => stack.queues.commands.getJobState(jobId), (s) => s === 'failed' || s === 'completed', 30_000);
    expect(state).toBe('failed');
    const status = await stack.request('GET', `/api/v1/jobs/${jobId}`, { as: member });
    expect(status.body).toMatchObject({ state: 'failed', error: { code: 'service_unavailable' } });
    expect(await stack.orm.em.fork().count(BookingSchema, { spaceId, startsAt: new Date(body.startsAt) })).toBe(0);
    // Retrying is safe: the slot is still free.
    const retry = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body, wait: 10 });
    expect(retry.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  });
});

describe('Redis down, refusals that need no Redis', () => {
  it('keep their answers and their order (404, 409, 400, then 503), with or without an Idempotency-Key', async () => {
    const inactive = (await seedSpace(stack)).space.id;
    await stack.orm.em.getConnection().execute('update spaces set active = false where id = ?', [inactive], 'run');
    redisProxy.down();
    try {
      for (const headers of [{}, { 'idempotency-key': `down-${crypto.randomUUID()}` }]) {
        const post = (body: Record<string, unknown>) =>
          stack.request('POST', '/api/v1/booking/bookings', { as: member, headers, body: { spaceId, bookingType: 'hourly', ...hourlySlot(600), ...body } });
        expect((await post({ spaceId: crypto.randomUUID() })).status).toBe(404);
        expect((await post({ spaceId: inactive })).body.error.code).toBe('space_inactive');
        const offGrid = hourlySlot(600);
        offGrid.startsAt = new Date(Date.parse(offGrid.startsAt) + 60_000).toISOString();
        expect((await post(offGrid)).body.error.details.map((d: { path: string }) => d.path)).toEqual(['startsAt']);
        const refused = await post({});
        expect(refused.status).toBe(503);
        expect(refused.body.error.code).toBe('service_unavailable');
      }
    } finally {
      redisProxy.up();
    }
    expect((await eventually(create, (r) => r.status === 202)).status).toBe(202);
  });
});

describe('Postgres down', () => {
  it('reads and commands answer 503; after Postgres returns, everything works again', async () => {
    pgProxy.down();
    const list = await stack.request('GET', '/api/v1/booking/bookings', { as: makeUser('member') });
    expect(list.status).toBe(503);
    expect(list.body.error.code).toBe('service_unavailable');
    expect((await create()).status).toBe(503);
    const ready = await stack.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.postgres).toMatch(/^down/);

    pgProxy.up();
    const back = await eventually(() => stack.request('GET', '/api/v1/booking/bookings', { as: member }), (r) => r.status === 200);
    expect(back.status).toBe(200);
    const accepted = await eventually(create, (r) => r.status === 202);
    expect((await waitForJob(stack, member, accepted.body.jobId, 30_000)).state).toBe('completed');
  });
});

describe('Postgres not answering', () => {
  it('a server that accepts connections and never answers is 503 after the connect timeout, not 500', async () => {
    pgProxy.hang();
    try {
      // The pool's connections were dropped: each request below needs a new one, which the proxy never answers.
      for (const res of [await stack.request('GET', '/api/v1/booking/bookings', { as: makeUser('member') }), await create(), await stack.request('GET', `/api/v1/spaces/${spaceId}`, { as: member })]) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('service_unavailable');
      }
    } finally {
      pgProxy.up();
    }
    const back = await eventually(() => stack.request('GET', '/api/v1/booking/bookings', { as: member }), (r) => r.status === 200);
    expect(back.status).toBe(200);
  });
});

describe('Postgres frozen on open connections', () => {
  it('requests answer 503 after the query timeout, a job cut mid-transaction retries, and nothing leaks into the next transaction', async () => {
    // Connections in the pool, opened before the freeze: the API's and the worker's.
    for (let i = 0; i < 3; i++) expect((await stack.request('GET', '/api/v1/booking/bookings', { as: makeUser('member') })).status).toBe(200);
    const first = await create();
    expect((await waitForJob(stack, member, first.body.jobId, 30_000)).state).toBe('completed');

    pgProxy.freeze();
    let jobId: string;
    const slot = hourlySlot(950);
    try {
      for (const res of [await stack.request('GET', '/api/v1/booking/bookings', { as: makeUser('member') }), await create()]) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('service_unavailable');
      }
      // A command the worker takes while Postgres is frozen: its transaction is cut by the timeout.
      jobId = (await stack.queues.commands.add('booking.create', {
        actor: { id: member.id, role: 'member' },
        requestedAt: new Date().toISOString(),
        bookingId: crypto.randomUUID(),
        spaceId,
        bookingType: 'hourly',
        ...slot,
        attendees: 1,
        notes: null,
      })).id!;
      const retried = await eventually(async () => (await stack.queues.commands.getJob(jobId))?.attemptsMade ?? 0, (n) => n >= 1);
      expect(retried).toBeGreaterThanOrEqual(1);
    } finally {
      pgProxy.release();
    }
    const back = await eventually(() => stack.request('GET', '/api/v1/booking/bookings', { as: member }), (r) => r.status === 200);
    expect(back.status).toBe(200);
    expect((await waitForJob(stack, member, jobId, 60_000)).state).toBe('completed');
    // Each command after the freeze commits on its own: none runs inside a transaction a timeout left open.
    const after = await Promise.all([0, 1, 2, 3].map(() => create()));
    for (const res of after) expect((await waitForJob(stack, member, res.body.jobId, 30_000)).state).toBe('completed');
    expect(await stack.orm.em.fork().count(BookingSchema, { spaceId, startsAt: new Date(slot.startsAt) })).toBe(1);
  });
});

describe('transient faults inside a job', () => {
  it('a job that meets a Postgres outage retries with backoff and completes once Postgres returns', async () => {
    const slot = hourlySlot(900);
    const bookingId = crypto.randomUUID();
    // Make sure the member row exists (the API upserts it), then enqueue straight onto the queue while Postgres is cut.
    await stack.request('GET', `/api/v1/spaces/${spaceId}`, { as: member });
    pgProxy.down();
    const job = await stack.queues.commands.add('booking.create', {
      actor: { id: member.id, role: 'member' },
      requestedAt: new Date().toISOString(),
      bookingId,
      spaceId,
      bookingType: 'hourly',
      ...slot,
      attendees: 1,
      notes: null,
    });
    const sawRetry = await eventually(async () => (await stack.queues.commands.getJob(job.id!))?.attemptsMade ?? 0, (n) => n >= 1);
    expect(sawRetry).toBeGreaterThanOrEqual(1);
    pgProxy.up();
    const status = await waitForJob(stack, member, job.id!, 60_000);
    expect(status).toMatchObject({ state: 'completed', result: { bookingId, status: 'pending' } });
    expect(status.attemptsMade).toBeGreaterThanOrEqual(2);
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${bookingId}`, { as: member });
    expect(detail.body.status).toBe('pending');
  });
});
