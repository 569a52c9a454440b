import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, type Job } from 'bullmq';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { instrumented } from '../../src/jobs/instrument.js';
import { createLogger } from '../../src/logger.js';
import { recordLastSuccess } from '../../src/maintenance/last-success.js';
import { checkEvictionPolicy, createRedis } from '../../src/redis.js';
import { observeQueueDepth } from '../../src/metrics.js';
import { act, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { metricValue, parseMetrics, samples } from '../helpers/prometheus.js';
import { makeUser, REDIS_URL, startStack, tokenFor, type Stack } from '../helpers/stack.js';
import { startTcpProxy, unusedPort } from '../helpers/tcp-proxy.js';

/**
 * Metrics, logs and the Redis settings check, read the way operators read them: /metrics as Prometheus text, and
 * the JSON lines pino writes (captured through a destination stream instead of stdout).
 */
const lines: Record<string, any>[] = [];
let pending = '';
const sink = new Writable({
  write(chunk, _enc, done) {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
    done();
  },
});
const logger = createLogger({ logLevel: 'debug' }, 'test', sink);

let stack: Stack;
let spaceId: string;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack({ logger });
  spaceId = (await seedSpace(stack)).space.id;
});
afterAll(() => stack?.close());

const scrape = async () => {
  const res = await stack.request('GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.body as string;
};

describe('/metrics', () => {
  it('counts HTTP requests and their latency per route pattern and status, never per raw URL', async () => {
    const missing = randomUUID();
    expect((await stack.request('GET', `/api/v1/booking/bookings/${missing}`, { as: member })).status).toBe(404);
    expect((await stack.request('GET', `/api/v1/booking/bookings/${randomUUID()}`)).status).toBe(401);
    expect((await stack.request('GET', `/no/such/route/${missing}`)).status).toBe(404);
    const text = await scrape();

    const route = '/api/v1/booking/bookings/:id';
    expect(metricValue(text, 'http_requests_total', { method: 'GET', route, status: '404' })).toBeGreaterThanOrEqual(1);
    // Refused by the auth middleware, still labelled with the route that was asked for.
    expect(metricValue(text, 'http_requests_total', { method: 'GET', route, status: '401' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'http_requests_total', { method: 'POST', route: '/api/v1/workspaces', status: '201' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'http_request_duration_seconds_count', { method: 'GET', route, status: '404' })).toBeGreaterThanOrEqual(1);
    expect(samples(text, 'http_request_duration_seconds_bucket', { route, le: '+Inf' }).length).toBeGreaterThanOrEqual(1);
    // No raw URL anywhere: the ids never become label values.
    expect(text).not.toContain(missing);
    for (const s of samples(text, 'http_requests_total')) expect(s.labels.route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('labels every Bull Board request /admin/queues/*, not (unmatched)', async () => {
    expect((await stack.request('GET', '/admin/queues')).status).toBe(401);
    expect((await stack.request('GET', '/admin/queues/api/queues')).status).toBe(401);
    const text = await scrape();
    expect(metricValue(text, 'http_requests_total', { method: 'GET', route: '/admin/queues/*', status: '401' })).toBeGreaterThanOrEqual(2);
  });

  it('reports queue depth per state for every queue, read at scrape time', async () => {
    const job = await stack.queues.commands.add('booking.confirm', { bookingId: randomUUID() }, { delay: 3_600_000, jobId: `delayed-${randomUUID()}` });
    try {
      const text = await scrape();
      for (const queue of Object.values(QUEUE_NAMES)) {
        expect(samples(text, 'queue_jobs', { queue }).map((s) => s.labels.state)).toEqual(expect.arrayContaining(['waiting', 'active', 'delayed', 'failed', 'completed']));
      }
      expect(metricValue(text, 'queue_jobs', { queue: QUEUE_NAMES.commands, state: 'delayed' })).toBe(1);
    } finally {
      await job.remove();
    }
    expect(metricValue(await scrape(), 'queue_jobs', { queue: QUEUE_NAMES.commands, state: 'delayed' })).toBe(0);
  });

  it('a queue whose Redis has been down since the start is left out of the scrape and counted in the same one, at once', async () => {
    // A port nothing listens on, as a web started while its Redis was down has.
    const deadPort = await unusedPort();
    const down = createRedis(`redis://127.0.0.1:${deadPort}`, 'api');
    down.on('error', () => {});
    const queue = new Queue(`unreachable-${randomUUID()}`, { connection: down, prefix: stack.config.queue.prefix });
    queue.on('error', () => {});
    try {
      observeQueueDepth([queue]);
      const before = metricValue(await scrape(), 'queue_jobs_scrape_errors_total', { queue: queue.name }) ?? 0;
      const text = await scrape(); // BullMQ would wait for the first connect: this answered, so it did not
      expect(samples(text, 'queue_jobs', { queue: queue.name })).toEqual([]);
      expect(metricValue(text, 'queue_jobs_scrape_errors_total', { queue: queue.name })).toBe(before + 1);
      // The healthy queues are counted all the same.
      expect(samples(text, 'queue_jobs', { queue: QUEUE_NAMES.commands }).length).toBeGreaterThan(0);
    } finally {
      down.disconnect();
      await queue.close();
    }
  });

  it('records job durations and outcomes per job name (completed, refused)', async () => {
    const created = await createBooking(stack, member, spaceId);
    expect(created.body.state).toBe('completed');
    const bookingId = created.body.result.bookingId;
    expect((await act(stack, staff, bookingId, 'confirm')).body.state).toBe('completed');
    const again = await act(stack, staff, bookingId, 'confirm');
    expect(again.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });

    const text = await scrape();
    const q = QUEUE_NAMES.commands;
    expect(metricValue(text, 'jobs_total', { queue: q, name: 'booking.create', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'jobs_total', { queue: q, name: 'booking.confirm', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'jobs_total', { queue: q, name: 'booking.confirm', outcome: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'job_duration_seconds_count', { queue: q, name: 'booking.create', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'job_duration_seconds_sum', { queue: q, name: 'booking.create' })).toBeGreaterThan(0);
    // The cache counters live in the same registry.
    await stack.request('GET', `/api/v1/booking/bookings/${bookingId}`, { as: member });
    expect(samples(await scrape(), 'cache_requests_total').length).toBeGreaterThan(0);
  });

  it("shows each sweep's last success as recorded in Redis by the scheduler", async () => {
    const at = new Date('2026-11-25T10:00:00.000Z');
    await recordLastSuccess(stack.redis, stack.config.queue.prefix, 'sweep.expire', at);
    const text = await scrape();
    expect(metricValue(text, 'maintenance_sweep_last_success_timestamp_seconds', { sweep: 'sweep.expire' })).toBe(at.getTime() / 1000);
  });
});

describe('logs', () => {
  it('writes one access line per request with method, route, status, duration and the request id', async () => {
    const token = await tokenFor(member);
    const res = await stack.app.request(`/api/v1/booking/bookings/${randomUUID()}`, {
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-observability-1' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBe('req-observability-1');
    const mine = lines.filter((l) => l.requestId === 'req-observability-1');
    const access = mine.filter((l) => l.msg === 'request');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ level: 30, method: 'GET', route: '/api/v1/booking/bookings/:id', status: 404, component: 'test' });
    expect(typeof access[0]!.durationMs).toBe('number');
    // A request id is generated when the client sends none.
    const generated = await stack.request('GET', '/api/v1/workspaces', { as: member });
    const id = generated.headers.get('x-request-id');
    expect(id).toBeTruthy();
    expect(lines.filter((l) => l.msg === 'request' && l.requestId === id)).toHaveLength(1);
    // The bearer token never reaches the logs.
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it('logs a failed request (5xx) with its request id, next to its access line', async () => {
    // A second stack whose Redis goes through a proxy the test cuts: job reads then answer 503.
    const redis = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const cut = await startStack({ logger, redisPort: proxy.port, worker: false });
    try {
      proxy.down();
      const res = await cut.request('GET', '/api/v1/jobs/some-job', { as: member, headers: { 'x-request-id': 'req-outage-1' } });
      expect(res.status).toBe(503);
      const mine = lines.filter((l) => l.requestId === 'req-outage-1');
      expect(mine.find((l) => l.msg === 'request failed')).toMatchObject({ level: 50, path: '/api/v1/jobs/some-job' });
      expect(mine.find((l) => l.msg === 'request')).toMatchObject({ route: '/api/v1/jobs/:jobId', status: 503 });
    } finally {
      proxy.up();
      // Close only once Redis is back (a connection closed while it reconnects can hang the close).
      for (let i = 0; i < 200 && (await cut.request('GET', '/readyz')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
      await cut.close();
      await proxy.close();
    }
  });

  it('redacts authorization wherever it is logged', () => {
    const before = lines.length;
    logger.info({ headers: { authorization: 'Bearer s3cr3t' }, req: { headers: { authorization: 'Bearer s3cr3t' } }, authorization: 's3cr3t' }, 'headers');
    const line = lines.slice(before).find((l) => l.msg === 'headers')!;
    expect(line.headers.authorization).toBe('[redacted]');
    expect(line.req.headers.authorization).toBe('[redacted]');
    expect(line.authorization).toBe('[redacted]');
    expect(JSON.stringify(lines.slice(before))).not.toContain('s3cr3t');
  });

  it('puts the job id and job name on worker log lines', async () => {
    const created = await createBooking(stack, member, spaceId, hourlySlot(72));
    expect(created.body.state).toBe('completed');
    const jobId = created.body.id;
    const completed = lines.find((l) => l.msg === 'command completed' && l.jobId === jobId);
    expect(completed).toMatchObject({ jobId, jobName: 'booking.create', queue: QUEUE_NAMES.commands });
    // Checking out a pending booking: accepted by the API, refused by the worker.
    const refused = await act(stack, member, created.body.result.bookingId, 'check-out');
    expect(refused.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
    expect(lines.find((l) => l.msg === 'command refused' && l.jobId === refused.body.id)).toMatchObject({ jobName: 'booking.check-out', code: 'invalid_transition' });
  });

  it("hands every processor its job's logger, which carries the job's id and name however deep it is handed down", async () => {
    const before = lines.length;
    const processor = instrumented('some-queue', logger.child({ queue: 'some-queue' }), async (_job, log) => {
      log.child({ part: 'deep' }).warn('inside');
      return 'done';
    });
    expect(await processor({ id: 'j-1', name: 'x' } as Job)).toBe('done');
    expect(lines.slice(before).find((l) => l.msg === 'inside')).toMatchObject({ jobId: 'j-1', jobName: 'x', queue: 'some-queue', part: 'deep' });
  });

  it("writes a notification job's email (log transport) with that job's id and name", async () => {
    // Its own stack (own database and prefix) with the notifications worker, logging to the same lines.
    const notified = await startStack({ logger, notifications: true });
    try {
      const before = lines.length;
      const created = await createBooking(notified, member, (await seedSpace(notified)).space.id, hourlySlot(96));
      expect(created.body.state).toBe('completed');
      const emailLine = () => lines.slice(before).find((l) => typeof l.msg === 'string' && l.msg.startsWith('email (log transport'));
      for (let i = 0; i < 400 && !emailLine(); i++) await new Promise((r) => setTimeout(r, 25));
      const line = emailLine();
      // Sent by the event's own job (an email.send job exists only for a retry).
      expect(line).toMatchObject({ jobName: 'BOOKING_CREATED', queue: QUEUE_NAMES.notifications });
      expect(line!.jobId).toMatch(/^outbox-/);
    } finally {
      await notified.close();
    }
  });
});

describe('Redis settings check at start', () => {
  const capture = () => {
    const seen: { level: 'info' | 'warn'; o: object; msg: string }[] = [];
    return { seen, log: { info: (o: object, msg: string) => seen.push({ level: 'info', o, msg }), warn: (o: object, msg: string) => seen.push({ level: 'warn', o, msg }) } };
  };

  it('accepts the local Redis (noeviction)', async () => {
    const { seen, log } = capture();
    expect(await checkEvictionPolicy(stack.redis, log)).toEqual({ status: 'ok', policy: 'noeviction' });
    expect(seen.map((s) => s.level)).toEqual(['info']);
  });

  it('warns loudly when the policy may evict queue keys', async () => {
    const { seen, log } = capture();
    const redis = { call: async () => ['maxmemory-policy', 'allkeys-lru'] };
    expect(await checkEvictionPolicy(redis, log)).toEqual({ status: 'evicting', policy: 'allkeys-lru' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.level).toBe('warn');
    expect(seen[0]!.msg).toMatch(/allkeys-lru.*EVICT.*noeviction/);
  });

  it('tolerates a Redis that refuses CONFIG', async () => {
    const { seen, log } = capture();
    const redis = {
      call: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    };
    expect(await checkEvictionPolicy(redis, log)).toMatchObject({ status: 'unknown', error: expect.stringContaining('CONFIG') });
    expect(seen.map((s) => s.level)).toEqual(['warn']);
  });
});

it('metrics text parses (sanity of the helper)', () => {
  expect(parseMetrics('# HELP x y\nx{a="1",b="two words"} 3\ny 4.5\n')).toEqual([
    { name: 'x', labels: { a: '1', b: 'two words' }, value: 3 },
    { name: 'y', labels: {}, value: 4.5 },
  ]);
});
