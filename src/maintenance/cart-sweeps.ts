import { emptyEffects } from '../commands/context.js';
import type { CommandHooks } from '../commands/run-command.js';
import type { AppConfig } from '../config.js';
import { inTransaction, type Orm } from '../db/orm.js';
import { afterSweepCommit } from './after-sweep.js';

/**
 * Cart sweeps, run by job schedulers on the maintenance queue with an injected clock. Both are idempotent SQL in
 * batches (FOR UPDATE SKIP LOCKED: a row a command holds is left for the next run), and evict the availability of
 * every space whose holds they removed.
 * - `sweep.expired-holds`: deletes holds past `expiresAt` (the items keep their place in the cart; checkout claims
 *   their slot again if it is still free).
 * - `sweep.abandoned-carts`: active carts untouched for CART_IDLE_MINUTES become `abandoned`, their holds deleted;
 *   the member's next add-item starts a new cart.
 */
export const CART_SWEEP_NAMES = ['sweep.expired-holds', 'sweep.abandoned-carts'] as const;
export type CartSweepName = (typeof CART_SWEEP_NAMES)[number];
export const isCartSweepName = (name: string): name is CartSweepName => (CART_SWEEP_NAMES as readonly string[]).includes(name);

export async function sweepExpiredHolds(orm: Orm, now: Date, hooks: CommandHooks = {}, batchSize = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const { count, effects } = await inTransaction(orm, async (em) => {
      const rows = await em.execute<{ space_id: string }[]>(
        `delete from "reservations" where "id" in (
           select "id" from "reservations" where "kind" = 'hold' and "expires_at" <= ?
           order by "expires_at" limit ? for update skip locked)
         returning "space_id"`,
        [now, batchSize],
      );
      const effects = emptyEffects();
      for (const r of rows) effects.spaceIds.add(r.space_id);
      return { count: rows.length, effects };
    });
    total += count;
    if (count) await afterSweepCommit(hooks, effects);
    if (count < batchSize) return total;
  }
}

export async function sweepAbandonedCarts(orm: Orm, now: Date, idleMinutes: number, hooks: CommandHooks = {}, batchSize = 200): Promise<number> {
  const idleSince = new Date(now.getTime() - idleMinutes * 60_000);
  let total = 0;
  for (;;) {
    const { count, effects } = await inTransaction(orm, async (em) => {
      // One statement: the carts flip to abandoned and their holds go with them.
      const [row] = await em.execute<{ carts: number; space_ids: string[] }[]>(
        `with "abandoned" as (
           update "carts" set "status" = 'abandoned', "updated_at" = ? where "id" in (
             select "id" from "carts" where "status" = 'active' and "last_activity_at" <= ?
             order by "last_activity_at" limit ? for update skip locked)
           returning "id"),
         "released" as (
           delete from "reservations" r using "cart_items" i, "abandoned" a
            where i."cart_id" = a."id" and i."reservation_id" = r."id" and r."kind" = 'hold'
           returning r."space_id")
         select (select count(*) from "abandoned")::int as "carts",
                coalesce((select array_agg(distinct "space_id") from "released"), '{}') as "space_ids"`,
        [new Date(), idleSince, batchSize],
      );
      const effects = emptyEffects();
      for (const id of row?.space_ids ?? []) effects.spaceIds.add(id);
      return { count: row?.carts ?? 0, effects };
    });
    total += count;
    if (count) await afterSweepCommit(hooks, effects);
    if (count < batchSize) return total;
  }
}

/** Runs one cart sweep by name (what the maintenance worker calls). */
export function runCartSweep(orm: Orm, name: CartSweepName, now: Date, config: Pick<AppConfig, 'cart'>, hooks: CommandHooks = {}): Promise<number> {
  return name === 'sweep.expired-holds' ? sweepExpiredHolds(orm, now, hooks) : sweepAbandonedCarts(orm, now, config.cart.idleMinutes, hooks);
}
