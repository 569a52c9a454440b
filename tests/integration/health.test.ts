import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealthApp } from '../../src/api/health-server.js';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { createMaintenanceWorker, keepSchedulersRegistered, registerSchedulers } from '../../src/jobs/maintenance.worker.js';
import { createLogger } from '../../src/logger.js';
import { lastSuccessKey, readLastSuccesses, recordLastSuccess } from '../../src/maintenance/last-success.js';
import { SWEEPS } from '../../src/maintenance/sweeps.js';
import { createRedis } from '../../src/redis.js';
import { metricValue } from '../helpers/prometheus.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * The worker's and the scheduler's own health endpoints (served on HEALTH_PORT by src/process.ts; here the same
 * Hono app is called in-process), and the scheduler's staleness check, judged with an injected clock.
 */
let stack: Stack;
const EVERY = 60_000;
/** Whatever registerSchedulers registers (sweeps of other features included), read back from BullMQ. */
let sweepNames: string[] = [];
const apps: { close: () => Promise<void> }[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { SWEEP_STALE_FACTOR: '3' } });
  await registerSchedulers(stack.queues.maintenance, EVERY);
  sweepNames = (await stack.queues.maintenance.getJobSchedulers(0, -1)).map((s) => s.name).sort();
  expect(sweepNames).toEqual(expect.arrayContaining(Object.keys(SWEEPS)));
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await stack?.close();
});

const get = async (app: { request: (p: string) => Response | Promise<Response> }, path: string) => {
  const res = await app.request(path);
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
};

function healthApp(scheduler: boolean, now?: () => Date) {
  const h = createHealthApp({ config: stack.config, orm: stack.orm, scheduler, now });
  apps.push(h);
  return h.app;
}

describe('worker health endpoints', () => {
  it('/healthz, /readyz (Postgres, Redis, migrations) and /metrics; no API routes', async () => {
    const app = healthApp(false);
    expect((await get(app, '/healthz')).status).toBe(200);
    const ready = await get(app, '/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', migrations: 'ok' } });
    const metrics = await get(app, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('process_cpu_user_seconds_total');
    expect((await get(app, '/api/v1/workspaces')).status).toBe(404);
    expect((await get(app, '/admin/queues')).status).toBe(404);
  });
});

describe('scheduler readiness: sweeps', () => {
  it('is ready right after start, stale once a sweep has not succeeded within the factor × its interval, ready again after', async () => {
    let now = new Date();
    const app = healthApp(true, () => now);
    const first = await get(app, '/readyz');
    expect(first.status, first.text).toBe(200);
    expect(first.json().checks).toMatchObject({ postgres: 'ok', redis: 'ok', migrations: 'ok', sweeps: 'ok' });

    // Nothing succeeded, and 3 × 60 s have passed since the start.
    now = new Date(now.getTime() + 3 * EVERY + 1000);
    const stale = await get(app, '/readyz');
    expect(stale.status).toBe(503);
    expect(stale.json().status).toBe('not_ready');
    for (const name of sweepNames) expect(stale.json().checks.sweeps).toContain(`${name} (last success never`);

    // Every sweep succeeded recently (as the maintenance worker records it)…
    for (const name of sweepNames) await recordLastSuccess(stack.redis, stack.config.queue.prefix, name, new Date(now.getTime() - 5000));
    const fresh0 = await get(app, '/readyz');
    expect(fresh0.status, fresh0.text).toBe(200);

    // …then one stalls.
    const [stalled, ...fresh] = sweepNames;
    now = new Date(now.getTime() + 3 * EVERY);
    for (const name of fresh) await recordLastSuccess(stack.redis, stack.config.queue.prefix, name, now);
    const one = await get(app, '/readyz');
    expect(one.status).toBe(503);
    expect(one.json().checks.sweeps).toMatch(new RegExp(`^stale: ${stalled!.replace('.', '\\.')} \\(last success `));
    for (const name of fresh) expect(one.json().checks.sweeps).not.toContain(name);
  });

  it('the maintenance worker records each successful sweep in Redis and in its gauge', async () => {
    const connection = createRedis(stack.config.redis.url, 'worker');
    let worker: Worker | undefined;
    try {
      // Forget what the previous test recorded (times in its fake future).
      await stack.redis.del(lastSuccessKey(stack.config.queue.prefix));
      const started = new Date();
      worker = createMaintenanceWorker({ orm: stack.orm, connection, config: stack.config, logger: createLogger(stack.config, 'test'), queues: stack.queues });
      for (const name of sweepNames) await stack.queues.maintenance.add(name, {});
      const deadline = Date.now() + 15_000;
      let last: Record<string, Date> = {};
      while (Date.now() < deadline) {
        last = await readLastSuccesses(stack.redis, stack.config.queue.prefix);
        if (sweepNames.every((n) => last[n] && last[n]!.getTime() >= started.getTime())) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const name of sweepNames) expect(last[name]!.getTime()).toBeGreaterThanOrEqual(started.getTime());

      const metrics = (await get(healthApp(true), '/metrics')).text;
      for (const name of sweepNames) {
        expect(metricValue(metrics, 'maintenance_sweep_last_success_timestamp_seconds', { sweep: name })).toBeGreaterThanOrEqual(Math.floor(started.getTime() / 1000));
        expect(metricValue(metrics, 'jobs_total', { queue: QUEUE_NAMES.maintenance, name, outcome: 'completed' })).toBeGreaterThanOrEqual(1);
      }
      expect((await get(healthApp(true), '/readyz')).status).toBe(200);
    } finally {
      await worker?.close();
      await connection.quit();
    }
  });
});

describe('job schedulers lost from Redis', () => {
  it('are registered again by the scheduler, and readiness is back', async () => {
    const logger = createLogger({ logLevel: 'silent' }, 'test');
    const maintenance = stack.queues.maintenance;
    // Checked when the test says (an hour between checks of its own).
    const keeper = keepSchedulersRegistered(maintenance, () => registerSchedulers(maintenance, EVERY), logger, 3_600_000);
    try {
      await keeper.registered;
      expect(await maintenance.getJobSchedulersCount()).toBe(sweepNames.length);
      // What a queue Redis restarted without its data, or an obliterate from Bull Board, leaves.
      for (const name of sweepNames) await maintenance.removeJobScheduler(name);
      expect((await get(healthApp(true), '/readyz')).json().checks.sweeps).toMatch(/^down: no job schedulers/);
      await keeper.check();
      expect((await maintenance.getJobSchedulers(0, -1)).map((s) => s.name).sort()).toEqual(sweepNames);
      expect((await get(healthApp(true), '/readyz')).json().checks.sweeps).toBe('ok');
    } finally {
      keeper.close();
    }
  });
});
