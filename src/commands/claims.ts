import { randomUUID } from 'node:crypto';
import { ReservationSchema } from '../db/entities/index.js';
import { query } from '../db/sql.js';
import type { CommandContext } from './context.js';

/**
 * Claims on a space's time (the `reservations` table, guarded by its EXCLUDE constraint), as commands use them.
 * Holds that have expired stop blocking: whoever wants an overlapping slot deletes them in its own transaction
 * first (the sweep deletes the rest), so the constraint only ever sees live claims and expired ones.
 */

/**
 * Deletes expired cart holds overlapping [startsAt, endsAt) on the space, judged at `ctx.now`. A cart item whose hold
 * goes loses it (`cart_items.reservation_id` is set null by its foreign key); its owner's checkout then tries to
 * claim the slot again. Returns how many went. (A group commit clears all its members' slots in its first statement.)
 */
export async function clearExpiredHolds(ctx: CommandContext, spaceId: string, startsAt: Date, endsAt: Date): Promise<number> {
  const cleared = await clearExpiredHoldsOf(ctx.em, [{ spaceId, startsAt, endsAt, now: ctx.now }]);
  for (const id of cleared) ctx.effects.spaceIds.add(id);
  return cleared.length;
}

/** A slot whose overlapping expired holds go, judged at its own `now`. */
export interface SlotToClear {
  spaceId: string;
  startsAt: Date;
  endsAt: Date;
  now: Date;
}

/**
 * The statement behind clearExpiredHolds, for many slots at once (it returns the `space_id` of each hold it
 * deleted), with its bindings. The group commit runs it as part of a larger statement. Each slot looks up its own
 * space's claims through the EXCLUDE constraint's index (space, range), the rows then deleted by primary key; as a
 * plain join, under a generic plan (src/db/orm-options.ts), it walked every hold there is. The lookup locks what it
 * found (`for update`, which also keeps the planner from flattening it into a join): a hold changed meanwhile by a
 * transaction we waited for (a checkout converting it into its booking's claim) is then checked again in its new
 * version and left alone. Deleting by id what an unlocked subquery found would re-check only the id, and take that
 * booking's claim away: the slot could then be booked twice (tests/integration/cart-holds.test.ts).
 */
export function expiredHoldsDelete(slots: readonly SlotToClear[]): { sql: string; bindings: unknown[] } {
  const iso = (d: Date) => d.toISOString();
  return {
    sql: `delete from "reservations" r
      where r."id" in (
        select h."id" from unnest(?::uuid[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[]) as c(space_id, starts_at, ends_at, now)
        cross join lateral (
          select x."id" from "reservations" x
          where x."space_id" = c.space_id and x."kind" = 'hold' and x."expires_at" <= c.now
            and tstzrange(x."starts_at", x."ends_at", '[)') && tstzrange(c.starts_at, c.ends_at, '[)')
          for update
        ) h
      )
      returning r."space_id"`,
    bindings: [slots.map((s) => s.spaceId), slots.map((s) => iso(s.startsAt)), slots.map((s) => iso(s.endsAt)), slots.map((s) => iso(s.now))],
  };
}

/** Deletes the expired holds overlapping the slots: the spaces it freed. */
export async function clearExpiredHoldsOf(em: CommandContext['em'], slots: readonly SlotToClear[]): Promise<string[]> {
  const { sql, bindings } = expiredHoldsDelete(slots);
  const rows = await query<{ space_id: string }>(em, sql, bindings);
  return rows.map((r) => r.space_id);
}

/**
 * Inserts a claim unless an overlapping one exists: `ON CONFLICT DO NOTHING` takes the EXCLUDE constraint as its
 * arbiter, so a concurrent claimer waits for the other transaction and then either inserts or gets nothing — no
 * aborted transaction, so the caller can say which slot was taken. Returns the new reservation's id, or null.
 */
export async function tryClaim(
  ctx: CommandContext,
  claim: { spaceId: string; startsAt: Date; endsAt: Date } & ({ kind: 'hold'; expiresAt: Date } | { kind: 'booking'; bookingId: string }),
): Promise<string | null> {
  const id = randomUUID();
  const rows = await ctx.em.execute<{ id: string }[]>(
    `insert into "reservations" ("id", "space_id", "kind", "booking_id", "starts_at", "ends_at", "expires_at", "created_at")
     values (?, ?, ?, ?, ?, ?, ?, ?)
     on conflict do nothing
     returning "id"`,
    [
      id,
      claim.spaceId,
      claim.kind,
      claim.kind === 'booking' ? claim.bookingId : null,
      claim.startsAt,
      claim.endsAt,
      claim.kind === 'hold' ? claim.expiresAt : null,
      ctx.now,
    ],
  );
  if (!rows.length) return null;
  ctx.effects.spaceIds.add(claim.spaceId);
  return id;
}

/** Turns a cart hold into a booking's claim in place: same row, so the slot is never free in between. */
export async function convertHold(ctx: CommandContext, reservationId: string, bookingId: string): Promise<boolean> {
  const changed = await ctx.em.nativeUpdate(
    ReservationSchema,
    { id: reservationId, kind: 'hold' },
    { kind: 'booking', bookingId, expiresAt: null },
  );
  return changed === 1;
}
