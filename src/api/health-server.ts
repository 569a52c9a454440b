import { Queue } from 'bullmq';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import { QUEUE_NAMES } from '../jobs/catalogue.js';
import type { Logger } from '../logger.js';
import { sweepFreshness } from '../maintenance/last-success.js';
import { closeRedis, createRedis, whenConnecting } from '../redis.js';
import { startHttpServer } from './http-server.js';
import { opsRoutes, pingCheck, type ReadinessCheck } from './routes/ops.routes.js';

/**
 * The scheduler's extra readiness check: every fixed-interval job scheduler on the maintenance queue must have
 * succeeded within SWEEP_STALE_FACTOR × its interval (read from the Redis hash the maintenance worker writes).
 */
export function sweepsCheck(deps: { config: AppConfig; maintenance: Queue; redis: Redis; since: Date; now?: () => Date }): ReadinessCheck {
  return async () => {
    await whenConnecting(deps.redis);
    const sweeps = await sweepFreshness(deps.maintenance, deps.redis, deps.config.queue.prefix, {
      staleFactor: deps.config.health.sweepStaleFactor,
      now: deps.now?.() ?? new Date(),
      since: deps.since,
    });
    if (!sweeps.length) return 'down: no job schedulers registered on the maintenance queue';
    const stale = sweeps.filter((s) => s.stale);
    if (!stale.length) return 'ok';
    return `stale: ${stale.map((s) => `${s.name} (last success ${s.lastSuccess ?? 'never'}, every ${s.everyMs} ms)`).join(', ')}`;
  };
}

/**
 * The small HTTP app of a worker or scheduler process (HEALTH_PORT): /healthz, /readyz, /metrics; no API routes.
 * Its Redis connection fails fast, so a probe during an outage answers 503 instead of hanging.
 */
export function createHealthApp(deps: { config: AppConfig; orm: Orm; scheduler: boolean; now?: () => Date }) {
  const redis = createRedis(deps.config.redis.url, 'api');
  const maintenance = deps.scheduler ? new Queue(QUEUE_NAMES.maintenance, { connection: redis, prefix: deps.config.queue.prefix }) : undefined;
  maintenance?.on('error', () => {});
  // A cache Redis of its own (CACHE_REDIS_URL) is needed here: a command is completed only once its eviction is done.
  const cacheRedis = deps.config.redis.cacheUrl !== deps.config.redis.url ? createRedis(deps.config.redis.cacheUrl, 'api') : undefined;
  const checks: Record<string, ReadinessCheck> = {
    ...(maintenance ? { sweeps: sweepsCheck({ config: deps.config, maintenance, redis, since: new Date(), now: deps.now }) } : {}),
    ...(cacheRedis ? { cache: pingCheck(cacheRedis) } : {}),
  };
  const app = new Hono();
  app.route('/', opsRoutes({ config: deps.config, orm: deps.orm, redis, checks }));
  const close = async () => {
    await maintenance?.close();
    await closeRedis(redis);
    if (cacheRedis) await closeRedis(cacheRedis);
  };
  return { app, close };
}

/** Serves the health app on HEALTH_PORT; resolves once listening, with the bound port (HEALTH_PORT=0 picks one). */
export async function startHealthServer(config: AppConfig, orm: Orm, logger: Logger, opts: { scheduler: boolean }) {
  const { app, close } = createHealthApp({ config, orm, scheduler: opts.scheduler });
  const { port, close: stop } = await startHttpServer(app.fetch, config.health.port ?? 0, config.http.host, 'HEALTH_PORT');
  logger.info({ healthPort: port }, `health endpoints on http://${config.http.host}:${port} (/healthz, /readyz, /metrics)`);
  return {
    port,
    close: async () => {
      await stop();
      await close();
    },
  };
}
