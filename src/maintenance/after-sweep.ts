import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandEffects } from '../commands/context.js';
import type { CommandHooks } from '../commands/run-command.js';

/** The pauses before each retry of a sweep's after-commit work: about 15 s in all. */
export const SWEEP_AFTER_COMMIT_RETRY_MS: readonly number[] = [250, 1000, 2000, 4000, 8000];

/**
 * A sweep's after-commit work (eviction, then the publish of its events: src/follow-ups/after-commit.ts), retried in
 * the sweep itself. A command that fails there is retried as a job and redoes it from its inbox row; a sweep has no
 * such row, and once its batch committed a later run finds nothing due, so a failed eviction was never redone and the
 * cached reads of the bookings it moved stayed stale until CACHE_TTL_SECONDS. The retries cover a brief outage of the
 * cache's Redis; past them the sweep job fails (logged, in Bull Board). Behind them, the jobs of the sweep's events
 * evict those entries again (SWEPT_EVENT_TYPES in src/follow-ups/notification.handlers.ts): the outbox makes that
 * eviction durable where this one is not, as when the scheduler is killed right after the commit.
 */
export async function afterSweepCommit(hooks: CommandHooks, effects: CommandEffects, retryMs: readonly number[] = SWEEP_AFTER_COMMIT_RETRY_MS): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await hooks.afterCommit?.(effects);
    } catch (err) {
      const pause = retryMs[attempt];
      if (pause === undefined) throw err;
      await sleep(pause);
    }
  }
}
