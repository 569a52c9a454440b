import { z } from '@hono/zod-openapi';
import { CART_STATUSES } from '../db/entities/index.js';
import { BOOKING_TYPES } from '../domain/pricing.js';
import { PROMO_CODE_PATTERN, PROMO_DISCOUNT_TYPES } from '../domain/promo.js';
import { PAYMENT_METHODS } from '../payments/payment-provider.js';
import { Guest, IsoDateTime, Pagination, Text, Uuid } from './schemas.js';

/** Request and response shapes of carts, checkout, promo codes and reviews. */

// ---- cart ----
/** Whose cart: staff and admin may name any user; a member may only name themselves (anyone else is 403). */
const CartOwner = Uuid.optional().openapi({ description: "Whose cart (staff and admin only; default: the caller's own)" });

export const CartQuery = z.object({ userId: CartOwner });

export const RemoveCartItemInput = z.strictObject({ itemId: Uuid, userId: CartOwner }).openapi('RemoveCartItemInput');

export const ClearCartInput = z.strictObject({ userId: CartOwner }).openapi('ClearCartInput');

export const CheckoutInput = z
  .strictObject({
    paymentMethod: z.enum(PAYMENT_METHODS).optional().openapi({ description: 'Default `invoice`' }),
    promoCode: z.string().regex(PROMO_CODE_PATTERN, '3–32 letters, digits, _ or -').optional(),
  })
  .openapi('CheckoutInput');

const amounts = {
  basePrice: z.number().int(),
  discountAmount: z.number().int(),
  taxAmount: z.number().int(),
  totalPrice: z.number().int(),
};

export const CartItem = z
  .object({
    id: Uuid,
    workspaceId: Uuid,
    spaceId: Uuid,
    spaceName: z.string(),
    bookingType: z.enum(BOOKING_TYPES),
    startsAt: IsoDateTime,
    endsAt: IsoDateTime,
    attendees: z.number().int(),
    notes: z.string().nullable(),
    guests: z.array(Guest),
    ...amounts,
    currency: z.string(),
    holdExpiresAt: IsoDateTime.nullable().openapi({ description: 'When the hold on the slot lapses; null once it is gone' }),
    holdStatus: z.enum(['held', 'expired']).openapi({
      description: '`expired`: the slot is no longer held for you; checkout still books it if nobody took it meanwhile',
    }),
  })
  .openapi('CartItem');

export const Cart = z
  .object({
    id: Uuid.nullable().openapi({ description: 'null until the first add-item creates the cart' }),
    status: z.enum(CART_STATUSES),
    workspaceId: Uuid.nullable(),
    currency: z.string().nullable(),
    items: z.array(CartItem),
    totals: z.object(amounts),
    lastActivityAt: IsoDateTime.nullable(),
  })
  .openapi('Cart');

// ---- promo codes ----
export const PromoCodeInput = z
  .strictObject({
    code: z.string().regex(PROMO_CODE_PATTERN, '3–32 letters, digits, _ or -').openapi({ example: 'WELCOME10' }),
    discountType: z.enum(PROMO_DISCOUNT_TYPES),
    discountValue: z.number().int().min(1).max(100_000_000).openapi({ description: 'percent: 1–100; fixed: minor units per checkout' }),
    validFrom: IsoDateTime.optional(),
    validTo: IsoDateTime.optional(),
    maxUses: z.number().int().min(1).max(100_000_000).optional(),
    active: z.boolean().optional(),
  })
  .refine((p) => p.discountType !== 'percent' || p.discountValue <= 100, { path: ['discountValue'], message: 'a percentage is 1–100' })
  .refine((p) => !p.validFrom || !p.validTo || Date.parse(p.validTo) > Date.parse(p.validFrom), { path: ['validTo'], message: 'must be after validFrom' })
  .openapi('PromoCodeInput');

export const PromoCode = z
  .object({
    id: Uuid,
    workspaceId: Uuid,
    code: z.string(),
    discountType: z.enum(PROMO_DISCOUNT_TYPES),
    discountValue: z.number().int(),
    validFrom: IsoDateTime.nullable(),
    validTo: IsoDateTime.nullable(),
    maxUses: z.number().int().nullable(),
    usedCount: z.number().int(),
    active: z.boolean(),
    createdAt: IsoDateTime,
  })
  .openapi('PromoCode');

// ---- reviews ----
export const ReviewInput = z
  .strictObject({
    bookingId: Uuid,
    rating: z.number().int().min(1).max(5),
    comment: Text(2000).optional(),
  })
  .openapi('ReviewInput');

export const ReviewListQuery = Pagination.extend({ bookingId: Uuid.optional(), spaceId: Uuid.optional() }).refine(
  (q) => q.bookingId !== undefined || q.spaceId !== undefined,
  { path: ['spaceId'], message: 'give bookingId or spaceId' },
);

export const Review = z
  .object({
    id: Uuid,
    bookingId: Uuid,
    spaceId: Uuid,
    workspaceId: Uuid,
    userId: Uuid,
    rating: z.number().int(),
    comment: z.string().nullable(),
    createdAt: IsoDateTime,
  })
  .openapi('Review');

export const ReviewList = z
  .object({
    items: z.array(Review),
    page: z.number().int(),
    pageSize: z.number().int(),
    total: z.number().int(),
    spaceId: Uuid,
    averageRating: z.number().nullable().openapi({ description: "The space's mean rating over all its reviews, 2 decimals" }),
    ratingCount: z.number().int(),
  })
  .openapi('ReviewList');
