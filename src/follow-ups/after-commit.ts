import type { Redis } from 'ioredis';
import { createReadCache, type EvictionTargets } from '../cache/read-cache.js';
import type { CommandEffects } from '../commands/context.js';
import type { CommandHooks } from '../commands/run-command.js';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Queues } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import { publishCommitted, type PublishMarks } from './outbox.js';

export interface FollowUpDeps {
  config: AppConfig;
  orm: Orm;
  queues: Queues;
  /** The cache's Redis (CACHE_REDIS_URL). */
  cacheRedis: Redis;
  logger: Logger;
  /** Where the publish step leaves its published marks (src/follow-ups/outbox.ts); closed by the process. */
  marks: PublishMarks;
}

/** The read cache's eviction on the cache's Redis: the after-commit step's, and the swept events' (notification.handlers.ts). */
export function createEviction(deps: Pick<FollowUpDeps, 'cacheRedis' | 'config'>): (targets: EvictionTargets) => Promise<void> {
  const cache = createReadCache(deps.cacheRedis, deps.config);
  return (targets) => cache.evict(targets);
}

type Step = { name: string; run: (effects: CommandEffects) => Promise<void>; mustSucceed: boolean };

/**
 * What runs after a command's (or a sweep's) transaction commits, in order, before the job is reported completed.
 * Every step runs even if an earlier one failed. A failed *eviction* then fails the job (it is retried, and the
 * retry redoes the after-commit work from the inbox's stored effects), because reporting completion while a stale
 * entry may still be served would break invariant 4. A failed *publish* is only logged: the outbox relay republishes.
 * The one place both command workers and the scheduler get their after-commit work from.
 *
 * When the cache and the queues share one Redis connection (CACHE_REDIS_URL unset), the publish is sent right behind
 * the eviction without waiting for its answer: Redis runs one connection's commands in the order they were sent, so
 * the eviction still happens first, and the job waits for one round trip where it waited for two.
 */
export function createCommandHooks(deps: FollowUpDeps): CommandHooks {
  const evictCache = createEviction(deps);
  const evict: Step = { name: 'evict-cache', run: evictCache, mustSucceed: true };
  // Then the command's outbox rows go to the notifications queue (invariant 3); the relay catches what this misses.
  const publish: Step = { name: 'publish-outbox', run: async (effects) => void (await publishCommitted(deps, effects)), mustSucceed: false };
  const pipelined = deps.queues.notifications.opts.connection === deps.cacheRedis;
  const log = deps.logger.child({ part: 'after-commit' });
  const attempt = async (step: Step, effects: CommandEffects): Promise<unknown> => {
    try {
      await step.run(effects);
      return undefined;
    } catch (err) {
      log.warn({ err, step: step.name }, 'after-commit step failed');
      return step.mustSucceed ? (err ?? new Error(`${step.name} failed`)) : undefined;
    }
  };
  return {
    afterCommit: async (effects) => {
      // Eviction first: once the job is reported completed, every read must see the change (invariant 4).
      const evicted = attempt(evict, effects);
      if (!pipelined) await evicted;
      const failures = await Promise.all([evicted, attempt(publish, effects)]);
      const mustRetry = failures.find((f) => f !== undefined);
      if (mustRetry) throw mustRetry;
    },
  };
}
