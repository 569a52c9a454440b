import { LockMode } from '@mikro-orm/postgresql';
import { applyTransition } from '../commands/booking.commands.js';
import { CommandContext } from '../commands/context.js';
import type { CommandHooks } from '../commands/run-command.js';
import { BookingSchema } from '../db/entities/index.js';
import { inTransaction, type Orm } from '../db/orm.js';
import { afterSweepCommit, SWEEP_AFTER_COMMIT_RETRY_MS } from './after-sweep.js';

export const SWEEPS = {
  /** Active or confirmed bookings past their end → completed (confirmed ones as no-shows). */
  'sweep.auto-complete': { action: 'auto_complete', where: (now: Date) => ({ status: { $in: ['active', 'confirmed'] }, endsAt: { $lte: now } }) },
  /** Pending bookings past their start → cancelled, reason `expired`. */
  'sweep.expire': { action: 'expire', where: (now: Date) => ({ status: 'pending', startsAt: { $lte: now } }) },
} as const;
export type SweepName = keyof typeof SWEEPS;

/**
 * One sweep: batches of due bookings locked with FOR UPDATE SKIP LOCKED (a booking a command holds is left for
 * the next run), each moved through the same transition code as a command: audit row, outbox event, eviction.
 * Idempotent: a booking already moved no longer matches. `now` is injected so tests need no real waiting.
 */
export async function runSweep(
  orm: Orm,
  name: SweepName,
  now: Date,
  hooks: CommandHooks = {},
  batchSize = 200,
  retryMs: readonly number[] = SWEEP_AFTER_COMMIT_RETRY_MS,
): Promise<number> {
  const sweep = SWEEPS[name];
  let total = 0;
  for (;;) {
    const { count, effects } = await inTransaction(orm, async (em) => {
      const due = await em.find(
        BookingSchema,
        { ...sweep.where(now), deletedAt: null } as never,
        { limit: batchSize, orderBy: { id: 'asc' }, lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE },
      );
      const ctx = new CommandContext(em, null, null, now);
      for (const booking of due) await applyTransition(ctx, booking, sweep.action);
      return { count: due.length, effects: ctx.effects };
    });
    total += count;
    if (count) await afterSweepCommit(hooks, effects, retryMs);
    if (count < batchSize) return total;
  }
}
