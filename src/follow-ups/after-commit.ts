import type { Redis } from 'ioredis';
import { createReadCache } from '../cache/read-cache.js';
import type { CommandEffects } from '../commands/context.js';
import type { CommandHooks } from '../commands/run-command.js';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Queues } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import { publishCommitted } from './outbox.js';

export interface FollowUpDeps {
  config: AppConfig;
  orm: Orm;
  queues: Queues;
  /** The cache's Redis (CACHE_REDIS_URL). */
  cacheRedis: Redis;
  logger: Logger;
}

type Step = { name: string; run: (effects: CommandEffects) => Promise<void>; mustSucceed: boolean };

/**
 * What runs after a command's (or a sweep's) transaction commits, in order, before the job is reported completed.
 * Every step runs even if an earlier one failed. A failed *eviction* then fails the job (it is retried, and the
 * retry redoes the after-commit work from the inbox's stored effects), because reporting completion while a stale
 * entry may still be served would break invariant 4. A failed *publish* is only logged: the outbox relay republishes.
 * The one place both command workers and the scheduler get their after-commit work from.
 */
export function createCommandHooks(deps: FollowUpDeps): CommandHooks {
  const cache = createReadCache(deps.cacheRedis, deps.config);
  // Eviction first: once the job is reported completed, every read must see the change (invariant 4).
  const steps: Step[] = [{ name: 'evict-cache', run: (effects) => cache.evict(effects), mustSucceed: true }];
  // Then the command's outbox rows go to the notifications queue (invariant 3); the relay catches what this misses.
  steps.push({ name: 'publish-outbox', run: async (effects) => void (await publishCommitted(deps, effects)), mustSucceed: false });
  const log = deps.logger.child({ part: 'after-commit' });
  return {
    afterCommit: async (effects) => {
      let mustRetry: unknown;
      for (const step of steps) {
        try {
          await step.run(effects);
        } catch (err) {
          log.warn({ err, step: step.name }, 'after-commit step failed');
          if (step.mustSucceed) mustRetry ??= err;
        }
      }
      if (mustRetry) throw mustRetry;
    },
  };
}
