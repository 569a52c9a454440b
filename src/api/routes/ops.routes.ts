import { Hono } from 'hono';
import { migrationsPending } from '../../db/orm.js';
import { metricsRegistry } from '../../metrics.js';
import type { AppDeps } from '../context.js';

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

/** Liveness, readiness and metrics, outside /api/v1 and without auth (load balancers and Prometheus call them). */
export function opsRoutes(deps: AppDeps) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => c.body(await metricsRegistry.metrics(), 200, { 'content-type': metricsRegistry.contentType }));
  app.get('/readyz', async (c) => {
    const ms = deps.config.readyTimeoutMs;
    const check = async (f: () => Promise<unknown>) => {
      try {
        await withTimeout(f(), ms);
        return 'ok';
      } catch (e) {
        return `down: ${(e as Error).message}`;
      }
    };
    const [postgres, redis, migrations] = await Promise.all([
      check(() => deps.orm.em.fork().getConnection().execute('select 1')),
      check(() => deps.redis.ping()),
      check(async () => {
        const pending = await migrationsPending(deps.orm);
        if (pending) throw new Error(`${pending} pending`);
      }),
    ]);
    const ready = postgres === 'ok' && redis === 'ok' && migrations === 'ok';
    return c.json({ status: ready ? 'ready' : 'not_ready', checks: { postgres, redis, migrations } }, ready ? 200 : 503);
  });
  return app;
}
