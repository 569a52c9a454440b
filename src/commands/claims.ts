import { randomUUID } from 'node:crypto';
import { ReservationSchema } from '../db/entities/index.js';
import type { CommandContext } from './context.js';

/**
 * Claims on a space's time (the `reservations` table, guarded by its EXCLUDE constraint), as commands use them.
 * Holds that have expired stop blocking: whoever wants an overlapping slot deletes them in its own transaction
 * first (the sweep deletes the rest), so the constraint only ever sees live claims and expired ones.
 */

/**
 * Deletes expired cart holds overlapping [startsAt, endsAt) on the space, judged at `ctx.now`. A cart item whose hold
 * goes loses it (`cart_items.reservation_id` is set null by its foreign key); its owner's checkout then tries to
 * claim the slot again. Returns how many went. A group commit clears its members' slots in one statement first
 * (`ctx.expiredHoldsCleared`), and then this is a no-op.
 */
export async function clearExpiredHolds(ctx: CommandContext, spaceId: string, startsAt: Date, endsAt: Date): Promise<number> {
  if (ctx.expiredHoldsCleared) return 0;
  const cleared = await clearExpiredHoldsOf(ctx.em, [{ spaceId, startsAt, endsAt, now: ctx.now }]);
  for (const id of cleared) ctx.effects.spaceIds.add(id);
  return cleared.length;
}

/** The statement behind clearExpiredHolds, for many slots at once, each judged at its own `now`: the spaces it freed. */
export async function clearExpiredHoldsOf(
  em: CommandContext['em'],
  slots: readonly { spaceId: string; startsAt: Date; endsAt: Date; now: Date }[],
): Promise<string[]> {
  // Postgres array literals: knex would expand a JS array binding into a list of parameters.
  const array = (values: string[]) => `{${values.join(',')}}`;
  const iso = (d: Date) => d.toISOString();
  const rows = await em.execute<{ space_id: string }[]>(
    `delete from "reservations" r
      using unnest(?::uuid[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[]) as c(space_id, starts_at, ends_at, now)
      where r."space_id" = c.space_id and r."kind" = 'hold' and r."expires_at" <= c.now
        and tstzrange(r."starts_at", r."ends_at", '[)') && tstzrange(c.starts_at, c.ends_at, '[)')
      returning r."space_id"`,
    [array(slots.map((s) => s.spaceId)), array(slots.map((s) => iso(s.startsAt))), array(slots.map((s) => iso(s.endsAt))), array(slots.map((s) => iso(s.now)))],
  );
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
