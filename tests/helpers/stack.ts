import type { Worker } from 'bullmq';
import { sign } from 'hono/jwt';
import type { Redis } from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import { createApp, type App } from '../../src/api/app.js';
import type { CommandHooks } from '../../src/commands/run-command.js';
import { createCommandHooks, createEviction } from '../../src/follow-ups/after-commit.js';
import { PublishMarks } from '../../src/follow-ups/outbox.js';
import { createReadCache, type ReadCache } from '../../src/cache/read-cache.js';
import { loadConfig, type AppConfig } from '../../src/config.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import type { Role } from '../../src/db/entities/index.js';
import { createCommandWorker } from '../../src/jobs/command.worker.js';
import { FinishedSignals } from '../../src/jobs/finished-signal.js';
import { createNotificationWorker } from '../../src/jobs/notification.worker.js';
import { createEmailChannel, type EmailChannel } from '../../src/follow-ups/email.js';
import { closeQueues, createQueues, type Queues } from '../../src/jobs/queues.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createApiCacheRedis, createRedis } from '../../src/redis.js';
import { createTestDatabase } from './db.js';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Removes every key under `prefix:` (what a test file created; SCAN is fine in tests, never on a request path). */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length) await redis.del(...keys);
}

export interface TestUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export function makeUser(role: Role, name = `${role}-${randomBytes(3).toString('hex')}`): TestUser {
  return { id: randomUUID(), email: `${name}@example.test`, name, role };
}

export async function tokenFor(
  user: TestUser,
  opts: { secret?: string; expiresInSeconds?: number; claims?: Record<string, unknown> } = {},
): Promise<string> {
  const exp = Math.floor(Date.now() / 1000) + (opts.expiresInSeconds ?? 3600);
  return sign({ sub: user.id, email: user.email, name: user.name, role: user.role, exp, ...opts.claims }, opts.secret ?? TEST_JWT_SECRET, 'HS256');
}

export interface Stack {
  app: App;
  orm: Orm;
  hooks: CommandHooks;
  cache: ReadCache;
  config: AppConfig;
  queues: Queues;
  redis: Redis;
  worker?: Worker;
  /** What `Prefer: wait` waits on (src/jobs/finished-signal.ts). */
  finished: FinishedSignals;
  /** The published marks of the stack's after-commit step (`flush()` writes them now). */
  marks: PublishMarks;
  /** The notifications worker and its email channel, with `startStack({ notifications: true })`. */
  notificationWorker?: Worker;
  mailer?: EmailChannel;
  /** Runs an HTTP request against the app in-process, as `user`. */
  request(method: string, path: string, opts?: RequestOpts): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface RequestOpts {
  as?: TestUser | null;
  token?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  wait?: number;
}

export interface TestResponse {
  status: number;
  body: any;
  headers: Headers;
}

/**
 * A whole service against real Postgres and Redis: a fresh database cloned from the migrated template, a
 * unique queue prefix, the app, and (unless `worker: false`) an in-process command worker.
 * `close()` stops everything and drops the database and the Redis keys.
 */
export async function startStack(
  opts: {
    worker?: boolean;
    env?: Record<string, string>;
    pgPort?: number;
    redisPort?: number;
    logger?: Logger;
    /** Also run the notifications worker (off by default); `mailer` replaces the env-chosen email channel. */
    notifications?: boolean | { mailer?: EmailChannel };
  } = {},
): Promise<Stack> {
  const db = await createTestDatabase();
  // Optional ports of a TCP proxy in front of Postgres / Redis (tests/helpers/tcp-proxy.ts), to play outages.
  const viaPort = (url: string, port?: number) => {
    if (!port) return url;
    const u = new URL(url);
    u.port = String(port);
    return u.toString();
  };
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: viaPort(db.url, opts.pgPort),
    REDIS_URL: viaPort(REDIS_URL, opts.redisPort),
    QUEUE_PREFIX: prefix,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    COMMAND_BACKOFF_MS: '20',
    COMMAND_ATTEMPTS: '3',
    DATABASE_POOL_MAX: '5',
    ...opts.env,
  });
  // A test that reads the logs passes its own (createLogger with a destination stream).
  const logger = opts.logger ?? createLogger(config, 'test');
  const orm = await createOrm(config.db.url, { poolMax: config.db.poolMax, queryTimeoutMs: config.db.queryTimeoutMs });
  const redis = createRedis(config.redis.url, 'api');
  const queues = createQueues(redis, config.queue);
  const finished = new FinishedSignals(createRedis(config.redis.url, 'worker'), config.queue.prefix);
  await finished.start();
  const workerConnection = createRedis(config.redis.url, 'worker');
  // The same after-commit work as a worker process (src/follow-ups/after-commit.ts).
  const marks = new PublishMarks(orm, config.followUps.markDelayMs, () => {});
  const hooks = createCommandHooks({ config, orm, queues, cacheRedis: workerConnection, logger, marks });
  const worker = opts.worker === false ? undefined : createCommandWorker({ orm, connection: workerConnection, config, logger, hooks });
  await worker?.waitUntilReady();
  const mailer = opts.notifications ? ((typeof opts.notifications === 'object' && opts.notifications.mailer) || createEmailChannel(config, logger)) : undefined;
  const evictCache = createEviction({ cacheRedis: workerConnection, config });
  const notificationWorker = mailer ? createNotificationWorker({ orm, connection: workerConnection, config, logger, queues, mailer, marks, evictCache }) : undefined;
  await notificationWorker?.waitUntilReady();
  const cacheRedis = createApiCacheRedis(config.redis.cacheUrl);
  const cache = createReadCache(cacheRedis, config);
  const app = createApp({ config, orm, redis, queues, cache, finished, logger });

  async function request(method: string, path: string, r: RequestOpts = {}): Promise<TestResponse> {
    const headers: Record<string, string> = { ...r.headers };
    const token = r.token ?? (r.as ? await tokenFor(r.as) : undefined);
    if (token) headers.authorization = `Bearer ${token}`;
    if (r.wait) headers.prefer = `wait=${r.wait}`;
    let body: string | undefined = r.rawBody;
    if (r.body !== undefined) body = JSON.stringify(r.body);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON (e.g. HTML) */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async function close() {
    await worker?.close();
    await notificationWorker?.close();
    mailer?.close();
    await finished.close();
    await marks.close();
    await closeQueues(queues, redis);
    await deleteKeysUnder(workerConnection, prefix);
    // quit() fails on a connection a test cut; disconnect() always works.
    await Promise.all([redis, cacheRedis, workerConnection].map((r) => r.quit().catch(() => r.disconnect())));
    await orm.close();
    await db.drop();
  }

  return { app, orm, hooks, cache, config, queues, redis, worker, finished, marks, notificationWorker, mailer, request, close };
}
