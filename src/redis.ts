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

export function isRedisUnavailable(e: unknown): boolean {
  const message = String((e as { message?: unknown })?.message ?? '');
  const name = String((e as { name?: unknown })?.name ?? '');
  return (
    name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED|Stream isn't writeable|Reached the max retries/i.test(message)
  );
}
