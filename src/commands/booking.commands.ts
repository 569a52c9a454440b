import { randomUUID } from 'node:crypto';
import {
  BookingEventSchema,
  BookingSchema,
  GuestSchema,
  OutboxSchema,
  ReservationSchema,
  SpaceSchema,
  UserSchema,
  WorkspaceSchema,
  type Booking,
  type BookingEvent,
  type Guest,
  type Outbox,
  type Reservation,
  type Space,
  type Workspace,
} from '../db/entities/index.js';
import { assertDeletable, assertEditable, decideTransition, type BookingAction } from '../domain/booking-state.js';
import { DomainError } from '../domain/errors.js';
import { quotePrice } from '../domain/pricing.js';
import { validateAttendees, validateBookingWindow } from '../domain/time-rules.js';
import type { BookingEventType, CommandName, CommandPayload, CommandResult } from '../jobs/catalogue.js';
import { clearExpiredHolds } from './claims.js';
import type { CommandContext, EventNames } from './context.js';

export type CommandHandler<N extends CommandName> = (ctx: CommandContext, payload: CommandPayload<N>) => Promise<CommandResult>;
export type BookingCommandName = Extract<CommandName, `booking.${string}`>;

export async function loadSpace(ctx: CommandContext, spaceId: string): Promise<{ space: Space; workspace: Workspace }> {
  const space = await ctx.em.findOne(SpaceSchema, spaceId);
  if (!space) throw new DomainError('not_found', `Space ${spaceId} not found`);
  const workspace = await ctx.em.findOneOrFail(WorkspaceSchema, space.workspaceId);
  return { space, workspace };
}

export function price(
  booking: Pick<Booking, 'bookingType' | 'startsAt' | 'endsAt'>,
  space: Pick<Space, 'hourlyRate' | 'dailyRate' | 'monthlyRate'>,
  workspace: Pick<Workspace, 'timezone' | 'taxRateBps'>,
  discountAmount = 0,
) {
  return quotePrice({
    bookingType: booking.bookingType,
    startsAt: booking.startsAt,
    endsAt: booking.endsAt,
    timezone: workspace.timezone,
    rates: space,
    taxRateBps: workspace.taxRateBps,
    discountAmount,
  });
}

const result = (booking: Pick<Booking, 'id' | 'status'>, extra: Record<string, unknown> = {}): CommandResult => ({
  bookingId: booking.id,
  status: booking.status,
  ...extra,
});

type SlotRequest = { spaceId: string; bookingType: Booking['bookingType']; startsAt: string; endsAt: string; attendees: number; guests: unknown[] };

/** What a new claim reads of its space and workspace (checks, price, event names). */
export type SlotSpace = Pick<Space, 'id' | 'workspaceId' | 'name' | 'active' | 'capacity' | 'hourlyRate' | 'dailyRate' | 'monthlyRate'>;
export type SlotWorkspace = Pick<Workspace, 'id' | 'name' | 'timezone' | 'currency' | 'taxRateBps'>;

/**
 * The checks every new claim on a space passes (booking create, cart add-item), given its space and workspace: the
 * space is bookable, the window obeys the time rules of the workspace's zone, and the party fits.
 */
export function checkSlot(ctx: CommandContext, p: SlotRequest, space: SlotSpace, workspace: SlotWorkspace) {
  if (!space.active) throw new DomainError('space_inactive', `Space ${space.id} is not bookable`);
  const startsAt = new Date(p.startsAt);
  const endsAt = new Date(p.endsAt);
  validateBookingWindow({ bookingType: p.bookingType, startsAt, endsAt, timezone: workspace.timezone, now: ctx.now });
  validateAttendees(p.attendees, space.capacity, p.guests.length);
  return { startsAt, endsAt };
}

/** {@link checkSlot}, loading the space (missing: `not_found`) and its workspace first. */
export async function checkRequestedSlot(ctx: CommandContext, p: SlotRequest) {
  const { space, workspace } = await loadSpace(ctx, p.spaceId);
  return { space, workspace, ...checkSlot(ctx, p, space, workspace) };
}

/** What a booking create reads besides its payload: the space, its workspace, and the user it books for. */
export interface CreateCatalogue {
  space: SlotSpace;
  workspace: SlotWorkspace;
  user: EventNames['user'];
}

/** Every row a booking create writes, and what it returns. */
export interface CreateRows {
  booking: Booking;
  guests: Guest[];
  reservation: Reservation;
  event: BookingEvent;
  outbox: Outbox;
  result: CommandResult;
}

/**
 * A booking create, decided: the checks (a refusal throws), the price, and every row it writes — the booking, its
 * guests, its claim on the slot, the audit row and the BOOKING_CREATED event — with the caches it touches in
 * `ctx.effects`. No I/O: the handler below writes these rows through the unit of work, the group commit
 * (./group-commit.ts) with one multi-row INSERT per table; both take them from here.
 */
export function planCreate(ctx: CommandContext, p: CommandPayload<'booking.create'>, found: CreateCatalogue): CreateRows {
  const { space, workspace, user } = found;
  const { startsAt, endsAt } = checkSlot(ctx, p, space, workspace);
  const quote = price({ bookingType: p.bookingType, startsAt, endsAt }, space, workspace);
  const now = new Date();
  const booking: Booking = {
    id: p.bookingId,
    workspaceId: workspace.id,
    spaceId: space.id,
    userId: p.actor.id,
    bookingType: p.bookingType,
    startsAt,
    endsAt,
    status: 'pending',
    attendees: p.attendees,
    notes: p.notes,
    basePrice: quote.basePrice,
    discountAmount: quote.discountAmount,
    grantedDiscount: 0,
    taxAmount: quote.taxAmount,
    totalPrice: quote.totalPrice,
    currency: workspace.currency,
    checkedInAt: null,
    checkedOutAt: null,
    cancelledAt: null,
    cancellationReason: null,
    noShow: false,
    deletedAt: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  const guests = p.guests.map((g, position): Guest => ({
    id: randomUUID(),
    bookingId: booking.id,
    cartItemId: null,
    position,
    name: g.name,
    email: g.email,
    createdAt: now,
  }));
  // The claim is what the EXCLUDE constraint guards: an overlapping live one makes the insert fail (→ slot_unavailable).
  const reservation: Reservation = { id: randomUUID(), spaceId: space.id, kind: 'booking', bookingId: booking.id, startsAt, endsAt, expiresAt: null, createdAt: now };
  const event = ctx.auditRow(booking, 'create', null);
  const outbox = ctx.eventRow('BOOKING_CREATED', booking, { workspace, space, user });
  return { booking, guests, reservation, event, outbox, result: result(booking, { totalPrice: booking.totalPrice, currency: booking.currency }) };
}

const create: CommandHandler<'booking.create'> = async (ctx, p) => {
  const { space, workspace } = await loadSpace(ctx, p.spaceId);
  const user = await ctx.em.findOneOrFail(UserSchema, p.actor.id);
  const rows = planCreate(ctx, p, { space, workspace, user });
  // An expired cart hold never blocks: it goes before the claim is written.
  await clearExpiredHolds(ctx, space.id, rows.booking.startsAt, rows.booking.endsAt);
  ctx.em.create(BookingSchema, rows.booking);
  for (const guest of rows.guests) ctx.em.create(GuestSchema, guest);
  ctx.em.create(ReservationSchema, rows.reservation);
  ctx.em.create(BookingEventSchema, rows.event);
  ctx.em.create(OutboxSchema, rows.outbox);
  return rows.result;
};

const update: CommandHandler<'booking.update'> = async (ctx, p) => {
  const booking = await ctx.lockBooking(p.bookingId);
  assertEditable(booking);
  const { space, workspace } = await loadSpace(ctx, booking.spaceId);
  if (p.notes !== undefined) booking.notes = p.notes;
  if (p.attendees !== undefined) {
    validateAttendees(p.attendees, space.capacity, await ctx.em.count(GuestSchema, { bookingId: booking.id }), false);
    booking.attendees = p.attendees;
  }
  if (p.startsAt !== undefined || p.endsAt !== undefined) {
    const startsAt = p.startsAt ? new Date(p.startsAt) : booking.startsAt;
    const endsAt = p.endsAt ? new Date(p.endsAt) : booking.endsAt;
    validateBookingWindow({ bookingType: booking.bookingType, startsAt, endsAt, timezone: workspace.timezone, now: ctx.now, startKept: p.startsAt === undefined });
    booking.startsAt = startsAt;
    booking.endsAt = endsAt;
    // The discount its checkout granted stays with the booking, as the amount it was (capped at the new base price):
    // the promo code's use was counted then, and a move is no reason to lose it. Capped from what was granted, not
    // from the last cap, so a move to a shorter slot and back costs what it did.
    const quote = price(booking, space, workspace, booking.grantedDiscount);
    Object.assign(booking, {
      basePrice: quote.basePrice,
      discountAmount: quote.discountAmount,
      taxAmount: quote.taxAmount,
      totalPrice: quote.totalPrice,
    });
    // Moving the claim re-checks the EXCLUDE constraint against every other live claim (expired holds go first).
    await clearExpiredHolds(ctx, space.id, startsAt, endsAt);
    await ctx.em.nativeUpdate(ReservationSchema, { bookingId: booking.id }, { startsAt, endsAt });
  }
  ctx.audit(booking, 'update', booking.status);
  return result(booking);
};

const remove: CommandHandler<'booking.delete'> = async (ctx, p) => {
  const booking = await ctx.lockBooking(p.bookingId);
  assertDeletable(booking);
  booking.deletedAt = ctx.now;
  await ctx.releaseClaim(booking);
  ctx.audit(booking, 'delete', booking.status);
  return result(booking, { deleted: true });
};

const EVENT_OF: Partial<Record<BookingAction, BookingEventType>> = {
  confirm: 'BOOKING_CONFIRMED',
  cancel: 'BOOKING_CANCELLED',
  check_in: 'BOOKING_CHECKED_IN',
  check_out: 'BOOKING_CHECKED_OUT',
  complete: 'BOOKING_COMPLETED',
  auto_complete: 'BOOKING_COMPLETED',
  expire: 'BOOKING_CANCELLED',
};

/**
 * Applies one state-machine action to a locked booking: status, the timestamps that go with it, the claim
 * (released on cancel, ended at an early check-out), the audit row and the event. Shared by commands and the scheduler's sweeps.
 */
export async function applyTransition(
  ctx: CommandContext,
  booking: Booking,
  action: BookingAction,
  opts: { reason?: string } = {},
): Promise<void> {
  const t = decideTransition(booking, action, ctx.now, opts);
  booking.status = t.to;
  if (t.noShow) booking.noShow = true;
  if (action === 'check_in') booking.checkedInAt = ctx.now;
  // Staff completing a booking under way check its party out; the sweeper's completion at the end records none.
  if (action === 'check_out' || (action === 'complete' && t.from === 'active')) {
    booking.checkedOutAt = ctx.now;
    await ctx.endClaimAt(booking, ctx.now);
  }
  if (t.to === 'cancelled') {
    booking.cancelledAt = ctx.now;
    booking.cancellationReason = t.cancellationReason ?? null;
    await ctx.releaseClaim(booking);
  }
  ctx.audit(booking, action, t.from);
  const event = EVENT_OF[action];
  if (event) await ctx.emit(event, booking, t.to === 'cancelled' ? { reason: booking.cancellationReason ?? '' } : {});
}

function transitionCommand<N extends BookingCommandName>(
  action: BookingAction,
  opts: { staffOnly?: string; reason?: (p: CommandPayload<N>) => string } = {},
): CommandHandler<N> {
  return async (ctx, p) => {
    if (opts.staffOnly) ctx.requireStaff(opts.staffOnly);
    const booking = await ctx.lockBooking(p.bookingId);
    await applyTransition(ctx, booking, action, opts.reason ? { reason: opts.reason(p) } : {});
    return result(booking);
  };
}

/** Every booking command's handler (cart and review commands: ./cart.commands.ts, ./review.commands.ts; all: ./handlers.ts). */
export const bookingCommandHandlers: { [N in BookingCommandName]: CommandHandler<N> } = {
  'booking.create': create,
  'booking.update': update,
  'booking.delete': remove,
  'booking.confirm': transitionCommand('confirm', { staffOnly: 'confirm bookings' }),
  'booking.cancel': transitionCommand<'booking.cancel'>('cancel', { reason: (p) => p.reason }),
  'booking.check-in': transitionCommand('check_in'),
  'booking.check-out': transitionCommand('check_out'),
  'booking.complete': transitionCommand('complete', { staffOnly: 'complete bookings' }),
};
