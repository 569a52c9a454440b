import { createRoute, z } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Context } from 'hono';
import {
  CartItemSchema,
  CartSchema,
  GuestSchema,
  ReservationSchema,
  SpaceSchema,
  WorkspaceSchema,
} from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import { quotePrice } from '../../domain/pricing.js';
import { validateAttendees, validateBookingWindow } from '../../domain/time-rules.js';
import { DEFAULT_PAYMENT_METHOD } from '../../payments/payment-provider.js';
import * as C from '../cart.schemas.js';
import { isStaffRole, type AppDeps, type AppEnv } from '../context.js';
import * as S from '../schemas.js';
import { identityAndPrior, submitCommand } from '../submit-command.js';
import { json, body } from '../openapi-helpers.js';
import { apiRouter } from '../router.js';

const tags = ['cart'];
const base = '/booking/cart';

const getCart = createRoute({
  method: 'get', path: base, tags, summary: 'Your active cart: items with prices, totals and when each hold lapses',
  description: "Staff and admin may read any user's active cart with `?userId=`; a member naming anyone else gets 403.",
  request: { query: C.CartQuery },
  responses: { 200: json(C.Cart, 'The cart (empty, with id null, before the first add-item)'), ...S.errors },
});
const addItem = createRoute({
  method: 'post', path: `${base}/add-item`, tags, summary: 'Hold a slot in your cart (enqueues cart.add-item)',
  description: 'Same body as a booking request. The item id is returned at once; the hold lasts CART_HOLD_MINUTES.',
  request: { headers: S.CommandHeaders, ...body(S.CreateBookingInput) },
  responses: S.commandResponses,
});
const removeItem = createRoute({
  method: 'post', path: `${base}/remove-item`, tags, summary: 'Remove an item and release its hold (enqueues cart.remove-item)',
  description: "`userId` (staff and admin): remove an item from that user's cart; a member naming anyone else gets 403.",
  request: { headers: S.CommandHeaders, ...body(C.RemoveCartItemInput) },
  responses: S.commandResponses,
});
const clearCart = createRoute({
  method: 'post', path: `${base}/clear`, tags, summary: 'Remove every item and release the holds (enqueues cart.clear)',
  description: "Optional body `{userId}` (staff and admin): clear that user's cart; a member naming anyone else gets 403.",
  request: { headers: S.CommandHeaders, ...body(C.ClearCartInput, false) },
  responses: S.commandResponses,
});
const checkout = createRoute({
  method: 'post', path: `${base}/checkout`, tags, summary: 'Book every item at once, all or nothing (enqueues cart.checkout)',
  description:
    'One transaction: each hold becomes a confirmed booking, a promo code is applied and counted, the payment method ' +
    '(default invoice) is recorded. If a hold lapsed and its slot was taken, nothing is booked and the job fails ' +
    '`slot_unavailable` naming the item. The job result lists the booking ids and amounts.',
  request: { headers: S.CommandHeaders, ...body(C.CheckoutInput, false) },
  responses: S.commandResponses,
});

const ZERO = { basePrice: 0, discountAmount: 0, taxAmount: 0, totalPrice: 0 };

/**
 * The user's active cart as the API shows it, read straight from Postgres (not cached: it is one member's, and its
 * holds lapse with time, not with commits). Prices come from the same pricing module as bookings, undiscounted
 * (a promo code applies at checkout).
 */
export async function cartView(em: EntityManager, userId: string, now: Date): Promise<z.infer<typeof C.Cart>> {
  const cart = await em.findOne(CartSchema, { userId, status: 'active' });
  if (!cart) return { id: null, status: 'active', workspaceId: null, currency: null, items: [], totals: { ...ZERO }, lastActivityAt: null };
  const items = await em.find(CartItemSchema, { cartId: cart.id }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  if (!items.length)
    return { id: cart.id, status: cart.status, workspaceId: null, currency: null, items: [], totals: { ...ZERO }, lastActivityAt: cart.lastActivityAt.toISOString() };

  const itemIds = items.map((i) => i.id);
  const holdIds = items.flatMap((i) => (i.reservationId ? [i.reservationId] : []));
  const [workspace, spaces, holds, guests] = [
    await em.findOneOrFail(WorkspaceSchema, items[0]!.workspaceId),
    await em.find(SpaceSchema, { id: { $in: [...new Set(items.map((i) => i.spaceId))] } }),
    holdIds.length ? await em.find(ReservationSchema, { id: { $in: holdIds } }) : [],
    await em.find(GuestSchema, { cartItemId: { $in: itemIds } }, { orderBy: { position: 'asc' } }),
  ];
  const spaceById = new Map(spaces.map((s) => [s.id, s]));
  const holdById = new Map(holds.map((h) => [h.id, h]));

  const views = items.map((item) => {
    const space = spaceById.get(item.spaceId)!;
    const quote = quotePrice({
      bookingType: item.bookingType,
      startsAt: item.startsAt,
      endsAt: item.endsAt,
      timezone: workspace.timezone,
      rates: space,
      taxRateBps: workspace.taxRateBps,
    });
    const hold = item.reservationId ? holdById.get(item.reservationId) : undefined;
    const expiresAt = hold?.expiresAt ?? null;
    return {
      id: item.id,
      workspaceId: item.workspaceId,
      spaceId: item.spaceId,
      spaceName: space.name,
      bookingType: item.bookingType,
      startsAt: item.startsAt.toISOString(),
      endsAt: item.endsAt.toISOString(),
      attendees: item.attendees,
      notes: item.notes ?? null,
      guests: guests.filter((g) => g.cartItemId === item.id).map((g) => ({ id: g.id, name: g.name, email: g.email })),
      basePrice: quote.basePrice,
      discountAmount: quote.discountAmount,
      taxAmount: quote.taxAmount,
      totalPrice: quote.totalPrice,
      currency: workspace.currency,
      holdExpiresAt: expiresAt?.toISOString() ?? null,
      holdStatus: expiresAt && expiresAt.getTime() > now.getTime() ? ('held' as const) : ('expired' as const),
    };
  });
  const sum = (k: keyof typeof ZERO) => views.reduce((s, v) => s + v[k], 0);
  return {
    id: cart.id,
    status: cart.status,
    workspaceId: workspace.id,
    currency: workspace.currency,
    items: views,
    totals: { basePrice: sum('basePrice'), discountAmount: sum('discountAmount'), taxAmount: sum('taxAmount'), totalPrice: sum('totalPrice') },
    lastActivityAt: cart.lastActivityAt.toISOString(),
  };
}

type Submitted = never; // command handlers answer with a plain Response (202 or 200), typed by the route's responses

/**
 * Whose cart a request means: the caller's own, or another user's named by `userId`, which only staff and admin may
 * (a member naming anyone but themselves is 403, nothing read or enqueued; the worker checks again).
 */
function cartOwner(c: Context<AppEnv>, userId: string | undefined): string {
  const user = c.get('user');
  if (userId === undefined || userId === user.id) return user.id;
  if (!isStaffRole(user.role)) throw new DomainError('forbidden', "Only staff may act on another user's cart");
  return userId;
}

/**
 * No route takes a cart id: a request acts on the caller's own cart, or (staff and admin, for reading, remove-item
 * and clear) on the active cart of the user named by `userId`. Add-item and checkout are always the caller's own.
 */
export function cartRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();
  /** The command's `userId`: only set when it names someone other than the caller (same job body otherwise). */
  const otherThanCaller = (c: Context<AppEnv>, owner: string) => (owner === c.get('user').id ? {} : { userId: owner });

  app.openapi(getCart, async (c) => c.json(await cartView(em(), cartOwner(c, c.req.valid('query').userId), new Date()), 200));

  app.openapi(addItem, async (c) => {
    const input = c.req.valid('json');
    // A replay answers its job, as a create's does, though its start may have passed or its space gone inactive since.
    const { identity, prior } = await identityAndPrior(c, deps);
    if (!prior) {
      const fork = em();
      const space = await fork.findOne(SpaceSchema, input.spaceId);
      if (!space) throw new DomainError('not_found', `Space ${input.spaceId} not found`);
      if (!space.active) throw new DomainError('space_inactive', `Space ${space.id} is not bookable`);
      const workspace = await fork.findOneOrFail(WorkspaceSchema, space.workspaceId);
      // The same checks as a booking request, for a 400 with field paths; the worker checks again.
      validateBookingWindow({ bookingType: input.bookingType, startsAt: new Date(input.startsAt), endsAt: new Date(input.endsAt), timezone: workspace.timezone, now: new Date() });
      validateAttendees(input.attendees, space.capacity, input.guests?.length ?? 0);
    }
    const itemId = identity.newId;
    const fields = { ...input, notes: input.notes ?? null, guests: input.guests ?? [], itemId, holdMinutes: deps.config.cart.holdMinutes };
    return (await submitCommand(c, deps, 'cart.add-item', fields, identity, { itemId }, prior)) as Submitted;
  });

  app.openapi(removeItem, async (c) => {
    const { itemId, userId } = c.req.valid('json');
    const owner = cartOwner(c, userId);
    // A removed item is gone from the cart: the key's replay is answered before the lookup.
    const { identity, prior } = await identityAndPrior(c, deps);
    if (!prior) {
      const fork = em();
      const cart = await fork.findOne(CartSchema, { userId: owner, status: 'active' });
      // Another member's item, or one not in the named (by default your) active cart, does not exist for you.
      if (!cart || !(await fork.count(CartItemSchema, { id: itemId, cartId: cart.id })))
        throw new DomainError('not_found', `Cart item ${itemId} not found`);
    }
    return (await submitCommand(c, deps, 'cart.remove-item', { itemId, ...otherThanCaller(c, owner) }, identity, { itemId }, prior)) as Submitted;
  });

  app.openapi(clearCart, async (c) => {
    // The body is optional: without one, valid('json') is {}.
    const { userId } = c.req.valid('json') as z.infer<typeof C.ClearCartInput>;
    return (await submitCommand(c, deps, 'cart.clear', otherThanCaller(c, cartOwner(c, userId)))) as Submitted;
  });

  app.openapi(checkout, async (c) => {
    // The body is optional: without one, valid('json') is {} (defaults are applied here).
    const input = c.req.valid('json') as z.infer<typeof C.CheckoutInput>;
    const fields = { paymentMethod: input.paymentMethod ?? DEFAULT_PAYMENT_METHOD, promoCode: input.promoCode ?? null };
    return (await submitCommand(c, deps, 'cart.checkout', fields)) as Submitted;
  });

  return app;
}
