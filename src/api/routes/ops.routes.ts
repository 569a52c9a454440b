import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config.js';
import { migrationsPending, type Orm } from '../../db/orm.js';
import { readLastSuccesses } from '../../maintenance/last-success.js';
import { metricsRegistry, observeQueueDepth, observeSweeps } from '../../metrics.js';
import { whenConnecting } from '../../redis.js';

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

/** A readiness check of its own: resolves 'ok' when fine, any other text says why not; throwing means down. */
export type ReadinessCheck = () => Promise<string>;

export interface OpsDeps {
  config: Pick<AppConfig, 'readyTimeoutMs' | 'queue'>;
  orm: Orm;
  /** The queue Redis, on a fail-fast connection (role 'api'): a probe must not wait out an outage. */
  redis: Redis;
  /** Queues whose depth this process's /metrics reports (the web process: all of them). */
  queues?: Queue[];
  /** Checks beyond Postgres, Redis and migrations (the scheduler adds `sweeps`). */
  checks?: Record<string, ReadinessCheck>;
}

/**
 * Liveness, readiness and metrics, outside /api/v1 and without auth (load balancers and Prometheus call them).
 * Mounted by the API, and by the worker and scheduler on HEALTH_PORT (src/ops/health-server.ts).
 */
/** A Redis connection answers PING (a first connect still under way is waited for, within the check's timeout). */
export const pingCheck =
  (redis: Redis): ReadinessCheck =>
  async () => {
    await whenConnecting(redis);
    await redis.ping();
    return 'ok';
  };

export function opsRoutes(deps: OpsDeps) {
  if (deps.queues) observeQueueDepth(deps.queues);
  observeSweeps(() => readLastSuccesses(deps.redis, deps.config.queue.prefix));

  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => c.body(await metricsRegistry.metrics(), 200, { 'content-type': metricsRegistry.contentType }));
  app.get('/readyz', async (c) => {
    const ms = deps.config.readyTimeoutMs;
    const run = async (f: ReadinessCheck) => {
      try {
        return await withTimeout(f(), ms);
      } catch (e) {
        return `down: ${(e as Error).message}`;
      }
    };
    const builtIn: Record<string, ReadinessCheck> = {
      postgres: async () => (await deps.orm.em.fork().getConnection().execute('select 1'), 'ok'),
      redis: pingCheck(deps.redis),
      migrations: async () => {
        const pending = await migrationsPending(deps.orm);
        return pending ? `down: ${pending} pending` : 'ok';
      },
    };
    const all = Object.entries({ ...builtIn, ...deps.checks });
    const results = await Promise.all(all.map(async ([name, f]) => [name, await run(f)] as const));
    const checks = Object.fromEntries(results);
    const ready = results.every(([, status]) => status === 'ok');
    return c.json({ status: ready ? 'ready' : 'not_ready', checks }, ready ? 200 : 503);
  });
  return app;
}
