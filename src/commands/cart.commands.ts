import { LockMode } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import {
  BookingSchema,
  CartItemSchema,
  CartSchema,
  CheckoutSchema,
  GuestSchema,
  PromoCodeSchema,
  ReservationSchema,
  SpaceSchema,
  WorkspaceSchema,
  type Booking,
  type Cart,
  type CartItem,
  type CheckoutLine,
  type PromoCode,
  type Space,
} from '../db/entities/index.js';
import { DomainError, isDomainError } from '../domain/errors.js';
import { allocateDiscount, assertPromoUsable, exhausted, normalizePromoCode } from '../domain/promo.js';
import { validateAttendees, validateBookingWindow } from '../domain/time-rules.js';
import type { Actor, CommandName, CommandResult } from '../jobs/catalogue.js';
import { paymentProvider } from '../payments/payment-provider.js';
import { checkRequestedSlot, loadSpace, price, type CommandHandler } from './booking.commands.js';
import { clearExpiredHolds, convertHold, tryClaim } from './claims.js';
import type { CommandContext } from './context.js';

/**
 * Cart commands. Each acts on one user's active cart, locked FOR UPDATE, so commands on one cart run one after
 * another: the actor's own, or for remove-item and clear a member's named by `userId` (staff and admin only).
 * Add-item and checkout are always the actor's own (a checkout books and pays for its cart's owner).
 * Adding an item places a hold (a `reservations` row of kind 'hold' with `expiresAt`) that the EXCLUDE
 * constraint defends like any booking; checkout turns every hold into a confirmed booking in one transaction.
 */

const MINUTE_MS = 60_000;

async function lockActiveCart(ctx: CommandContext, userId: string): Promise<Cart | null> {
  return ctx.em.findOne(CartSchema, { userId, status: 'active' }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/**
 * The user's active cart, created on first use. Two first add-items of one user racing: the unique partial index
 * (one active cart per user) makes the second insert wait for the first and then do nothing; both lock the same cart.
 */
async function lockOrCreateCart(ctx: CommandContext, userId: string): Promise<Cart> {
  const existing = await lockActiveCart(ctx, userId);
  if (existing) return existing;
  await ctx.em.execute(
    `insert into "carts" ("id", "user_id", "status", "last_activity_at", "created_at", "updated_at")
     values (?, ?, 'active', ?, ?, ?) on conflict do nothing`,
    [randomUUID(), userId, ctx.now, new Date(), new Date()],
  );
  const cart = await lockActiveCart(ctx, userId);
  // Only a concurrent checkout or sweep between the insert and the select gets here: worth a retry.
  if (!cart) throw new Error('The active cart changed while it was being created');
  return cart;
}

async function requireActiveCart(ctx: CommandContext, userId: string): Promise<Cart> {
  const cart = await lockActiveCart(ctx, userId);
  if (!cart) throw new DomainError('not_found', userId === ctx.actor?.id ? 'You have no active cart' : `User ${userId} has no active cart`);
  return cart;
}

/**
 * Whose cart the command acts on: the actor's own unless `userId` names another user, which only staff and admin
 * may (checked here whatever the API let through; a member's job fails `forbidden`).
 */
function cartOwner(ctx: CommandContext, p: { actor: Actor; userId?: string | undefined }): string {
  if (p.userId === undefined || p.userId === p.actor.id) return p.actor.id;
  ctx.requireStaff("act on another user's cart");
  return p.userId;
}

/** Deletes an item's hold if it still has one (a hold already swept or taken over is simply gone). */
async function releaseHold(ctx: CommandContext, item: CartItem): Promise<void> {
  if (!item.reservationId) return;
  const gone = await ctx.em.nativeDelete(ReservationSchema, { id: item.reservationId, kind: 'hold' });
  if (gone) ctx.effects.spaceIds.add(item.spaceId);
}

const cartResult = (cart: Cart | null, status: string, extra: Record<string, unknown> = {}): CommandResult => ({
  cartId: cart?.id ?? null,
  status,
  ...extra,
});

const addItem: CommandHandler<'cart.add-item'> = async (ctx, p) => {
  const { space, workspace, startsAt, endsAt } = await checkRequestedSlot(ctx, p);

  const cart = await lockOrCreateCart(ctx, p.actor.id);
  // One workspace per cart: one currency, one tax rate, and the workspace's promo codes apply to all of it.
  const foreign = await ctx.em.findOne(CartItemSchema, { cartId: cart.id, workspaceId: { $ne: workspace.id } });
  if (foreign)
    throw new DomainError('cart_workspace_mismatch', 'Your cart holds spaces of another workspace: check it out or clear it first', {
      cartWorkspaceId: foreign.workspaceId,
      workspaceId: workspace.id,
    });

  // An expired hold never blocks (whoever's it is); a live claim does.
  await clearExpiredHolds(ctx, space.id, startsAt, endsAt);
  const expiresAt = new Date(ctx.now.getTime() + p.holdMinutes * MINUTE_MS);
  const reservationId = await tryClaim(ctx, { kind: 'hold', spaceId: space.id, startsAt, endsAt, expiresAt });
  if (!reservationId)
    throw new DomainError('slot_unavailable', 'The space is already booked or held for an overlapping time', {
      spaceId: space.id,
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
    });

  // The cart's own items overlapping this slot have no hold (a live one would have refused the claim): a member
  // re-adding a slot whose hold lapsed renews it. They go, with their guests (ON DELETE CASCADE), else the cart
  // would count the slot twice and its checkout would find the slot taken by its own new hold.
  // One statement, found and deleted together; the cart's row lock keeps its items still meanwhile.
  const lapsed = await ctx.em.execute<{ id: string }[]>(
    `delete from "cart_items" where "cart_id" = ? and "space_id" = ? and "starts_at" < ? and "ends_at" > ? returning "id"`,
    [cart.id, space.id, endsAt, startsAt],
  );

  ctx.em.create(CartItemSchema, {
    id: p.itemId,
    cartId: cart.id,
    workspaceId: workspace.id,
    spaceId: space.id,
    reservationId,
    bookingId: null,
    bookingType: p.bookingType,
    startsAt,
    endsAt,
    attendees: p.attendees,
    notes: p.notes,
  });
  p.guests.forEach((g, position) =>
    ctx.em.create(GuestSchema, { id: randomUUID(), bookingId: null, cartItemId: p.itemId, position, name: g.name, email: g.email }),
  );
  cart.lastActivityAt = ctx.now;
  return cartResult(cart, 'held', {
    itemId: p.itemId,
    holdExpiresAt: expiresAt.toISOString(),
    ...(lapsed.length ? { replacedItemIds: lapsed.map((i) => i.id) } : {}),
  });
};

const removeItem: CommandHandler<'cart.remove-item'> = async (ctx, p) => {
  const cart = await requireActiveCart(ctx, cartOwner(ctx, p));
  const item = await ctx.em.findOne(CartItemSchema, { id: p.itemId, cartId: cart.id });
  if (!item) throw new DomainError('not_found', `Cart item ${p.itemId} not found`);
  await releaseHold(ctx, item);
  // Its guests go with it (ON DELETE CASCADE).
  await ctx.em.nativeDelete(CartItemSchema, { id: item.id });
  cart.lastActivityAt = ctx.now;
  return cartResult(cart, 'removed', { itemId: item.id });
};

const clear: CommandHandler<'cart.clear'> = async (ctx, p) => {
  const cart = await lockActiveCart(ctx, cartOwner(ctx, p));
  if (!cart) return cartResult(null, 'empty', { removed: 0 });
  const items = await ctx.em.find(CartItemSchema, { cartId: cart.id });
  for (const item of items) await releaseHold(ctx, item);
  await ctx.em.nativeDelete(CartItemSchema, { cartId: cart.id });
  cart.lastActivityAt = ctx.now;
  return cartResult(cart, 'empty', { removed: items.length });
};

/** A refusal about one cart item, with the item named in its details. */
function aboutItem(e: unknown, item: CartItem): unknown {
  if (!isDomainError(e)) return e;
  return new DomainError(e.code, `Cart item ${item.id}: ${e.message}`, { itemId: item.id, ...(e.details === undefined ? {} : { issues: e.details }) });
}

async function loadPromo(ctx: CommandContext, workspaceId: string, input: string): Promise<PromoCode> {
  const code = normalizePromoCode(input);
  const promo = await ctx.em.findOne(PromoCodeSchema, { workspaceId, code });
  if (!promo) throw new DomainError('promo_invalid', `Promo code ${code} is not valid here`, { code });
  assertPromoUsable(promo, ctx.now);
  return promo;
}

/**
 * All or nothing, in this one transaction: every line re-checked (space active, time rules, capacity), the promo
 * code's discount split over the lines, one confirmed booking per line with its claim (the hold converted in place;
 * a hold that expired and was swept is claimed anew, and if someone took the slot meanwhile the whole checkout fails
 * `slot_unavailable` naming the item), the promo use counted by a guarded UPDATE, the payment asked for, the Checkout
 * row written, the cart closed, audit rows and outbox events per booking.
 */
const checkout: CommandHandler<'cart.checkout'> = async (ctx, p) => {
  const cart = await lockActiveCart(ctx, p.actor.id);
  const items = cart ? await ctx.em.find(CartItemSchema, { cartId: cart.id }, { orderBy: { createdAt: 'asc', id: 'asc' } }) : [];
  if (!cart || items.length === 0) throw new DomainError('cart_empty', 'The cart is empty: add an item first');
  const workspace = await ctx.em.findOneOrFail(WorkspaceSchema, items[0]!.workspaceId);

  const spaces = new Map<string, Space>();
  for (const item of items) {
    const space = spaces.get(item.spaceId) ?? (await ctx.em.findOneOrFail(SpaceSchema, item.spaceId));
    spaces.set(space.id, space);
    try {
      if (!space.active) throw new DomainError('space_inactive', `Space ${space.id} is not bookable`);
      validateBookingWindow({ bookingType: item.bookingType, startsAt: item.startsAt, endsAt: item.endsAt, timezone: workspace.timezone, now: ctx.now });
      validateAttendees(item.attendees, space.capacity, await ctx.em.count(GuestSchema, { cartItemId: item.id }));
    } catch (e) {
      throw aboutItem(e, item);
    }
  }
  const spaceOf = (item: CartItem) => spaces.get(item.spaceId)!;

  const promo = p.promoCode ? await loadPromo(ctx, workspace.id, p.promoCode) : null;
  const bases = items.map((item) => price(item, spaceOf(item), workspace).basePrice);
  const discounts = promo ? allocateDiscount(promo, bases) : bases.map(() => 0);

  const lines: { item: CartItem; booking: Booking; line: CheckoutLine }[] = items.map((item, i) => {
    const quote = price(item, spaceOf(item), workspace, discounts[i]);
    const booking = ctx.em.create(BookingSchema, {
      id: randomUUID(),
      workspaceId: workspace.id,
      spaceId: item.spaceId,
      userId: p.actor.id,
      bookingType: item.bookingType,
      startsAt: item.startsAt,
      endsAt: item.endsAt,
      status: 'confirmed',
      attendees: item.attendees,
      notes: item.notes ?? null,
      basePrice: quote.basePrice,
      discountAmount: quote.discountAmount,
      grantedDiscount: quote.discountAmount,
      taxAmount: quote.taxAmount,
      totalPrice: quote.totalPrice,
      currency: workspace.currency,
    });
    const line: CheckoutLine = {
      itemId: item.id,
      bookingId: booking.id,
      spaceId: item.spaceId,
      bookingType: item.bookingType,
      startsAt: item.startsAt.toISOString(),
      endsAt: item.endsAt.toISOString(),
      basePrice: quote.basePrice,
      discountAmount: quote.discountAmount,
      taxAmount: quote.taxAmount,
      totalPrice: quote.totalPrice,
    };
    return { item, booking, line };
  });
  // The bookings must exist before their claims point at them.
  await ctx.em.flush();

  for (const { item, booking } of lines) {
    const converted = item.reservationId ? await convertHold(ctx, item.reservationId, booking.id) : false;
    if (!converted) {
      // The hold is gone (expired and swept, or taken over after expiry): claim the slot again if it is still free.
      await clearExpiredHolds(ctx, item.spaceId, item.startsAt, item.endsAt);
      const reservationId = await tryClaim(ctx, { kind: 'booking', bookingId: booking.id, spaceId: item.spaceId, startsAt: item.startsAt, endsAt: item.endsAt });
      if (!reservationId)
        throw new DomainError('slot_unavailable', `Cart item ${item.id}: its hold expired and the slot was taken`, {
          itemId: item.id,
          spaceId: item.spaceId,
          startsAt: item.startsAt.toISOString(),
          endsAt: item.endsAt.toISOString(),
        });
      item.reservationId = reservationId;
    }
    ctx.effects.spaceIds.add(item.spaceId);
    await ctx.em.nativeUpdate(GuestSchema, { cartItemId: item.id }, { bookingId: booking.id, cartItemId: null });
    item.bookingId = booking.id;
  }

  if (promo) {
    // Counted here, guarded: of two checkouts racing for the last use, the second waits for the first's row lock,
    // re-reads used_count after it commits and updates nothing.
    const used = await ctx.em.execute<{ id: string }[]>(
      `update "promo_codes" set "used_count" = "used_count" + 1, "updated_at" = ?
        where "id" = ? and "active" and ("max_uses" is null or "used_count" < "max_uses")
        returning "id"`,
      [new Date(), promo.id],
    );
    if (!used.length) throw exhausted(promo.code);
  }

  const sum = (k: 'basePrice' | 'discountAmount' | 'taxAmount' | 'totalPrice') => lines.reduce((s, l) => s + l.line[k], 0);
  const totals = { basePrice: sum('basePrice'), discountAmount: sum('discountAmount'), taxAmount: sum('taxAmount'), totalPrice: sum('totalPrice') };
  const checkoutId = randomUUID();
  const payment = await paymentProvider(p.paymentMethod).pay({
    idempotencyKey: ctx.commandId ?? checkoutId,
    checkoutId,
    userId: p.actor.id,
    amount: totals.totalPrice,
    currency: workspace.currency,
  });
  ctx.em.create(CheckoutSchema, {
    id: checkoutId,
    cartId: cart.id,
    userId: p.actor.id,
    workspaceId: workspace.id,
    commandId: ctx.commandId ?? checkoutId,
    items: lines.map((l) => l.line),
    ...totals,
    currency: workspace.currency,
    promoCodeId: promo?.id ?? null,
    paymentMethod: p.paymentMethod,
    paymentReference: payment.reference,
    paymentStatus: payment.status,
  });
  cart.status = 'checked_out';
  cart.checkedOutAt = ctx.now;
  cart.lastActivityAt = ctx.now;

  for (const { booking } of lines) {
    ctx.audit(booking, 'checkout', null);
    await ctx.emit('BOOKING_CREATED', booking);
    await ctx.emit('BOOKING_CONFIRMED', booking);
  }

  return cartResult(cart, 'checked_out', {
    checkoutId,
    bookingIds: lines.map((l) => l.booking.id),
    ...totals,
    currency: workspace.currency,
    promoCode: promo?.code ?? null,
    paymentMethod: p.paymentMethod,
    paymentReference: payment.reference,
    paymentStatus: payment.status,
  });
};

export const cartCommandHandlers: { [N in Extract<CommandName, `cart.${string}`>]: CommandHandler<N> } = {
  'cart.add-item': addItem,
  'cart.remove-item': removeItem,
  'cart.clear': clear,
  'cart.checkout': checkout,
};
