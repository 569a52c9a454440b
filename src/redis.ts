import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections by role. Workers block on Redis and must wait out an outage (`maxRetriesPerRequest: null`,
 * as BullMQ requires); the API must not: with no offline queue and a short command timeout, an outage becomes
 * an immediate error, and the HTTP layer answers 503 instead of hanging.
 */
export type RedisRole = 'api' | 'worker';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    role === 'api'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2000, connectTimeout: 2000 }
      : { maxRetriesPerRequest: null, enableReadyCheck: true };
  const client = new Redis(url, {
    ...base,
    // Back off up to 2 s between reconnects, forever: the process stays up and recovers when Redis returns.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...extra,
  });
  // Without a listener ioredis prints every reconnect failure as an unhandled 'error' event.
  client.on('error', () => {});
  return client;
}

/**
 * The API's cache connection: its own, with a short timeout, so a slow or dead cache degrades reads to Postgres
 * instead of stalling them. Not auto-pipelined: that was tried and measured worse on a quiet machine (interleaved
 * A/B, 50 connections: cached list 8.3k against 11.8k req/s, detail 12.8k against 13.6k, p99 at 500/s 3.7 against
 * 1.3 ms): building a pipeline per event-loop turn cost more than the socket writes it saved. The cache batches its own
 * lookups per event-loop turn instead (src/cache/read-cache.ts).
 */
export const createApiCacheRedis = (url: string) => createRedis(url, 'api', { commandTimeout: 500 });

/**
 * Resolves once a connection that is still making its first connect is ready. A fail-fast connection (role 'api')
 * refuses commands until then; a probe made that early waits (bounded by its caller), a connection lost later does not.
 */
export async function whenConnecting(client: Redis): Promise<void> {
  if (['wait', 'connecting', 'connect'].includes(client.status)) await new Promise((resolve) => client.once('ready', resolve));
}

/**
 * Closes a connection: QUIT when it is up (the replies of commands in flight arrive first), else at once. ioredis
 * queues a QUIT on a connection that is down until it reconnects, which would hold a shutdown until Redis is back.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') return void client.disconnect();
  await client.quit().catch(() => client.disconnect());
}

/** A command not sent: its fail-fast connection (role 'api') is not connected. */
export class RedisNotConnectedError extends Error {
  override name = 'RedisNotConnectedError';
  constructor() {
    super('Redis is not connected');
  }
}

/**
 * Throws RedisNotConnectedError unless `connection` is ready. For the BullMQ calls of the API: BullMQ waits for its
 * connection's first connect before any command, so with Redis down since the start a request would hang there,
 * where ioredis alone fails a command at once.
 */
export function assertConnected(connection: unknown): void {
  if (connection instanceof Redis && connection.status !== 'ready') throw new RedisNotConnectedError();
}

export function isRedisUnavailable(e: unknown): boolean {
  const message = String((e as { message?: unknown })?.message ?? '');
  const name = String((e as { name?: unknown })?.name ?? '');
  return (
    name === 'MaxRetriesPerRequestError' ||
    name === 'RedisNotConnectedError' ||
    /enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED|Stream isn't writeable|Reached the max retries/i.test(message)
  );
}

/**
 * False only for the failures of a command that never left this process (the connection was not ready, and the
 * API's connections keep no offline queue): after a timeout or a connection lost mid-way, Redis may have run it.
 */
export const mayHaveReachedRedis = (e: unknown) =>
  !(e instanceof RedisNotConnectedError) && !/enableOfflineQueue|Stream isn't writeable/i.test(String((e as { message?: unknown })?.message ?? ''));

export type EvictionPolicyCheck = { status: 'ok' | 'evicting' | 'unknown'; policy?: string; error?: string };

/**
 * BullMQ loses jobs silently if Redis evicts its keys, so the queue Redis must run `maxmemory-policy noeviction`.
 * Checked at every process start: anything else is logged as a loud warning (the process still starts: a managed
 * Redis may be misreported). A Redis that refuses CONFIG (disabled or renamed, as on some managed services) cannot
 * be checked; that is logged too, and tolerated.
 */
export async function checkEvictionPolicy(
  redis: { call(command: string, ...args: string[]): Promise<unknown> },
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void },
): Promise<EvictionPolicyCheck> {
  let reply: unknown;
  try {
    reply = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
  } catch (e) {
    const error = (e as Error)?.message ?? String(e);
    logger.warn({ error }, 'could not read the queue Redis maxmemory-policy (Redis unreachable, or CONFIG refused: see error); make sure it is noeviction, or queued jobs can vanish');
    return { status: 'unknown', error };
  }
  // RESP2 answers a flat [name, value] list; RESP3 a map.
  const policy = Array.isArray(reply) ? String(reply[1] ?? '') : reply instanceof Map ? String(reply.get('maxmemory-policy') ?? '') : '';
  if (!policy) {
    logger.warn({ reply }, 'the queue Redis did not report its maxmemory-policy; make sure it is noeviction, or queued jobs can vanish');
    return { status: 'unknown' };
  }
  if (policy !== 'noeviction') {
    logger.warn(
      { policy, expected: 'noeviction' },
      `!!! the queue Redis runs maxmemory-policy=${policy}: under memory pressure it will EVICT BullMQ keys and jobs will be lost. Set maxmemory-policy noeviction (the cache may live elsewhere: CACHE_REDIS_URL) !!!`,
    );
    return { status: 'evicting', policy };
  }
  logger.info({ policy }, 'queue Redis maxmemory-policy is noeviction');
  return { status: 'ok', policy };
}
