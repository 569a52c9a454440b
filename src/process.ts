import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createApp } from './api/app.js';
import { startHealthServer } from './api/health-server.js';
import { startHttpServer } from './api/http-server.js';
import { createReadCache } from './cache/read-cache.js';
import type { AppConfig } from './config.js';
import { assertDatabaseUsable, createOrm, migrateDatabase, migrationsPending, type Orm } from './db/orm.js';
import { QUEUE_NAMES } from './jobs/catalogue.js';
import { createCommandWorker } from './jobs/command.worker.js';
import { FinishedSignals } from './jobs/finished-signal.js';
import { createNotificationWorker } from './jobs/notification.worker.js';
import { createEmailChannel } from './follow-ups/email.js';
import { createMaintenanceWorker, keepSchedulersRegistered, registerSchedulers } from './jobs/maintenance.worker.js';
import { closeQueues, closeWorker, createQueues } from './jobs/queues.js';
import { createCommandHooks, createEviction, type FollowUpDeps } from './follow-ups/after-commit.js';
import { PublishMarks } from './follow-ups/outbox.js';
import { createLogger, type Logger } from './logger.js';
import { loadConfigOrExit, startOrExit } from './start-failure.js';
import { checkEvictionPolicy, closeRedis, createApiCacheRedis, createRedis, whenConnecting } from './redis.js';

export type ProcessRole = 'web' | 'worker' | 'scheduler';

/**
 * A part to close on shutdown. `stopTaking`, when given, runs for every part at once before any `close`: each worker
 * stops fetching at the signal, where closing them one after another left the later ones taking new jobs while an
 * earlier one drained.
 */
type Closer = { name: string; close: () => Promise<unknown>; stopTaking?: () => Promise<unknown> };

/** A worker's closer: its close (stop fetching, wait for its active jobs) begins at `stopTaking` and is awaited in turn. */
function workerCloser(name: string, worker: Worker, connection: Redis): Closer {
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= closeWorker(worker, connection));
  return { name, close, stopTaking: close };
}

/**
 * Starts the named roles in this process. Procfile runs one role per process; `npm start` runs all three
 * (after creating the database and applying migrations) for a laptop. On SIGTERM/SIGINT every worker stops fetching
 * at once, then closers run in start order: the HTTP server stops accepting, workers finish their active jobs, then
 * Redis and the ORM close.
 */
export async function runProcess(roles: ProcessRole[], opts: { migrate?: boolean } = {}) {
  const config = loadConfigOrExit();
  const logger = createLogger(config, roles.join('+'));
  return startOrExit(config, logger, async () => {
    if (opts.migrate) await migrateDatabase(config.db.url, logger);
    await checkQueueRedis(config, logger);
    const orm = await createOrm(config.db.url, { poolMax: config.db.poolMax, queryTimeoutMs: config.db.queryTimeoutMs, logger });
    await assertDatabaseUsable(orm);
    const pending = await migrationsPending(orm);
    if (pending) logger.warn({ pending }, 'migrations are pending: run the release step (`npm run migrate`, from a build `node dist/src/db/migrate.js`); readiness reports not ready until then');
    const closers: Closer[] = [];

    // The worker and scheduler answer probes on HEALTH_PORT (the web process has them on its own port). Bound before
    // anything consumes a job, so a port in use fails the start (startOrExit says which) with no job taken; closed
    // last, so the probes answer until the end.
    const health =
      config.health.port !== undefined && (roles.includes('worker') || roles.includes('scheduler'))
        ? await startHealthServer(config, orm, logger, { scheduler: roles.includes('scheduler') })
        : undefined;
    if (roles.includes('web')) closers.push(...(await startWeb(config, orm, logger)));
    if (roles.includes('worker')) closers.push(...startWorkers(config, orm, logger));
    if (roles.includes('scheduler')) closers.push(...(await startScheduler(config, orm, logger)));
    if (health) closers.push({ name: 'health-http', close: health.close });
    closers.push({ name: 'orm', close: () => orm.close() });

    installShutdown(closers, logger, config.shutdownTimeoutMs);
    return { config, logger, orm };
  });
}

async function startWeb(config: AppConfig, orm: Orm, logger: Logger): Promise<Closer[]> {
  const redis = createRedis(config.redis.url, 'api');
  const queues = createQueues(redis, config.queue, (err) => logger.warn({ err: err.message }, 'queue connection error'));
  // Its own connection: a subscriber can do nothing else. Subscribed once Redis is there (ioredis queues the call).
  const finished = new FinishedSignals(createRedis(config.redis.url, 'worker'), config.queue.prefix);
  finished.start().catch((err: unknown) => logger.warn({ err }, 'could not subscribe to finished commands; Prefer: wait will wait out its time'));
  const cacheRedis = createApiCacheRedis(config.redis.cacheUrl);
  const cache = createReadCache(cacheRedis, config);
  const app = createApp({ config, orm, redis, queues, cache, finished, logger });
  // A port in use fails the start (startOrExit says which).
  const http = await startHttpServer(app.fetch, config.http.port, config.http.host, 'PORT');
  logger.info({ port: http.port }, `API listening on http://${config.http.host}:${http.port} (docs at /docs)`);
  return [
    // First: the open `Prefer: wait` requests answer now (202, with `Connection: close` as every answer from here
    // on), so the HTTP server's close does not wait them out.
    {
      name: 'prefer-waits',
      close: async () => {
        http.stopKeepAlive();
        finished.release();
      },
    },
    { name: 'http', close: http.close },
    { name: 'finished-signals', close: () => finished.close() },
    { name: 'queues', close: () => closeQueues(queues, redis) },
    { name: 'redis', close: () => closeRedis(redis) },
    { name: 'cache-redis', close: () => closeRedis(cacheRedis) },
  ];
}

/** Producers and the cache connection that after-commit work needs, in a worker or scheduler process. */
function followUpDeps(config: AppConfig, orm: Orm, logger: Logger) {
  const connection = createRedis(config.redis.url, 'worker');
  const queues = createQueues(connection, config.queue, (err) => logger.warn({ err: err.message }, 'queue connection error'));
  // A cache of its own gets a command timeout: an eviction it cannot make fails the job's attempt (logged, retried
  // with backoff, its after-commit work redone from the inbox) instead of holding a worker slot until the cache returns.
  const cacheRedis =
    config.redis.cacheUrl === config.redis.url ? connection : createRedis(config.redis.cacheUrl, 'worker', { maxRetriesPerRequest: 1, commandTimeout: 2000 });
  const marks = new PublishMarks(orm, config.followUps.markDelayMs, (err, ids) =>
    logger.warn({ err, rows: ids.length }, 'could not mark outbox rows published; the relay will publish them again'),
  );
  const deps: FollowUpDeps = { config, orm, queues, cacheRedis, logger, marks };
  const closers: Closer[] = [
    // Behind the workers (their last commands' marks), before the ORM.
    { name: 'outbox-marks', close: () => marks.close() },
    { name: 'producer-queues', close: () => closeQueues(queues, connection) },
    { name: 'producer-redis', close: () => closeRedis(connection) },
  ];
  if (cacheRedis !== connection) closers.push({ name: 'cache-redis', close: () => closeRedis(cacheRedis) });
  return { deps, connection, closers };
}

function startWorkers(config: AppConfig, orm: Orm, logger: Logger): Closer[] {
  const connection = createRedis(config.redis.url, 'worker');
  const followUps = followUpDeps(config, orm, logger);
  const worker = createCommandWorker({ orm, connection, config, logger, hooks: createCommandHooks(followUps.deps) });
  logger.info({ queue: QUEUE_NAMES.commands, concurrency: config.queue.commandConcurrency }, 'worker started');
  const mailer = createEmailChannel(config, logger);
  const { queues, marks } = followUps.deps;
  const notifications = createNotificationWorker({ orm, connection, config, logger, queues, mailer, marks, evictCache: createEviction(followUps.deps) });
  logger.info({ queue: QUEUE_NAMES.notifications, concurrency: config.queue.notificationConcurrency, email: mailer.transport }, 'worker started');
  return [
    // close() stops fetching and waits for active jobs; a job cut off by the timeout is picked up again later.
    workerCloser('command-worker', worker, connection),
    // Awaited after the command worker: its last commands may still publish events (to the queue, for whoever runs next).
    workerCloser('notification-worker', notifications, connection),
    { name: 'mailer', close: async () => mailer.close() },
    { name: 'worker-redis', close: () => closeRedis(connection) },
    ...followUps.closers,
  ];
}

async function startScheduler(config: AppConfig, orm: Orm, logger: Logger): Promise<Closer[]> {
  const connection = createRedis(config.redis.url, 'worker');
  const followUps = followUpDeps(config, orm, logger);
  const maintenance = followUps.deps.queues.maintenance;
  const schedulers = keepSchedulersRegistered(
    maintenance,
    () => registerSchedulers(maintenance, config.maintenance.sweepEveryMs, config.followUps, config.maintenance.tableStatsEveryMs),
    logger.child({ queue: QUEUE_NAMES.maintenance }),
  );
  const worker = createMaintenanceWorker({ orm, connection, config, logger, hooks: createCommandHooks(followUps.deps), queues: followUps.deps.queues });
  logger.info({ queue: QUEUE_NAMES.maintenance }, 'scheduler started');
  return [
    { name: 'job-schedulers', close: async () => schedulers.close() },
    workerCloser('maintenance-worker', worker, connection),
    { name: 'scheduler-redis', close: () => closeRedis(connection) },
    ...followUps.closers,
  ];
}

/** Warns loudly at start when the queue Redis may evict keys (src/redis.ts); never stops the start. */
async function checkQueueRedis(config: AppConfig, logger: Logger): Promise<void> {
  const redis = createRedis(config.redis.url, 'api');
  try {
    // A Redis that is down at start is not waited for (the check then reports it could not tell).
    await Promise.race([whenConnecting(redis), new Promise((resolve) => setTimeout(resolve, config.readyTimeoutMs).unref())]);
    await checkEvictionPolicy(redis, logger);
  } finally {
    await closeRedis(redis);
  }
}

function installShutdown(closers: Closer[], logger: Logger, timeoutMs: number): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    // Every worker stops fetching now; a failure there surfaces from its `close` below.
    for (const c of closers) c.stopTaking?.().catch(() => {});
    for (const c of closers) {
      try {
        await c.close();
      } catch (err) {
        logger.warn({ err, part: c.name }, 'error while closing');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
