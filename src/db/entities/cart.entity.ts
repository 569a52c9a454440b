import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { BOOKING_TYPES } from '../../domain/pricing.js';
import { PROMO_DISCOUNT_TYPES } from '../../domain/promo.js';
import { money, timestamps } from './base.js';
import { BookingSchema, ReservationSchema } from './booking.entity.js';
import { SpaceSchema, WorkspaceSchema } from './catalog.entity.js';
import { UserSchema } from './user.entity.js';

export const CART_STATUSES = ['active', 'checked_out', 'abandoned'] as const;
export type CartStatus = (typeof CART_STATUSES)[number];

/**
 * A member's cart. At most one `active` cart per user: the migration adds a unique partial index on (user_id)
 * where status = 'active', so two concurrent first add-items create one cart. `lastActivityAt` drives the
 * abandonment sweep (CART_IDLE_MINUTES).
 */
export const CartSchema = defineEntity({
  name: 'Cart',
  tableName: 'carts',
  properties: {
    id: p.uuid().primary(),
    userId: p.manyToOne(UserSchema).mapToPk().fieldName('user_id').deleteRule('cascade'),
    status: p.enum([...CART_STATUSES]),
    lastActivityAt: p.datetime(),
    checkedOutAt: p.datetime().nullable(),
    ...timestamps,
  },
});
export type Cart = InferEntity<typeof CartSchema>;

/**
 * One slot in a cart, the same fields as a booking request. Its hold is a Reservation of kind 'hold'
 * (`reservationId`, set to null when the hold is swept or taken over after expiry); `bookingId` is set at checkout.
 * Its guests are Guest rows with `cartItemId`, moved to the booking at checkout.
 */
export const CartItemSchema = defineEntity({
  name: 'CartItem',
  tableName: 'cart_items',
  properties: {
    id: p.uuid().primary(),
    cartId: p.manyToOne(CartSchema).mapToPk().fieldName('cart_id').index().deleteRule('cascade'),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id'),
    spaceId: p.manyToOne(SpaceSchema).mapToPk().fieldName('space_id'),
    reservationId: p.manyToOne(ReservationSchema).mapToPk().fieldName('reservation_id').nullable().unique().deleteRule('set null'),
    bookingId: p.manyToOne(BookingSchema).mapToPk().fieldName('booking_id').nullable(),
    bookingType: p.enum([...BOOKING_TYPES]),
    startsAt: p.datetime(),
    endsAt: p.datetime(),
    attendees: p.integer().default(1),
    notes: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type CartItem = InferEntity<typeof CartItemSchema>;

/**
 * A workspace's discount code. `usedCount` only grows through a guarded UPDATE (`used_count < max_uses`) in the
 * checkout's transaction, and a CHECK keeps it ≤ max_uses, so concurrent checkouts can never over-use a code.
 */
export const PromoCodeSchema = defineEntity({
  name: 'PromoCode',
  tableName: 'promo_codes',
  properties: {
    id: p.uuid().primary(),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id').deleteRule('cascade'),
    // Stored upper-case; codes are matched case-insensitively by normalizing the input.
    code: p.string().length(32),
    discountType: p.enum([...PROMO_DISCOUNT_TYPES]),
    // percent: 1–100; fixed: minor units of the workspace's currency, once per checkout.
    discountValue: p.integer(),
    validFrom: p.datetime().nullable(),
    validTo: p.datetime().nullable(),
    maxUses: p.integer().nullable(),
    usedCount: p.integer().default(0),
    active: p.boolean().default(true),
    ...timestamps,
  },
  uniques: [{ properties: ['workspaceId', 'code'] }],
});
export type PromoCode = InferEntity<typeof PromoCodeSchema>;

/** What one checkout line recorded (the booking it became and its amounts). */
export interface CheckoutLine {
  itemId: string;
  bookingId: string;
  spaceId: string;
  bookingType: string;
  startsAt: string;
  endsAt: string;
  basePrice: number;
  discountAmount: number;
  taxAmount: number;
  totalPrice: number;
}

/** The record of a cart's checkout: its lines, amounts and payment. One per cart. */
export const CheckoutSchema = defineEntity({
  name: 'Checkout',
  tableName: 'checkouts',
  properties: {
    id: p.uuid().primary(),
    cartId: p.manyToOne(CartSchema).mapToPk().fieldName('cart_id').unique(),
    userId: p.manyToOne(UserSchema).mapToPk().fieldName('user_id').index(),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id'),
    commandId: p.string().length(128),
    items: p.json<CheckoutLine[]>(),
    basePrice: money(),
    discountAmount: money(),
    taxAmount: money(),
    totalPrice: money(),
    currency: p.string().length(3),
    promoCodeId: p.manyToOne(PromoCodeSchema).mapToPk().fieldName('promo_code_id').nullable(),
    paymentMethod: p.string().length(32),
    paymentReference: p.string().length(128),
    paymentStatus: p.string().length(32),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Checkout = InferEntity<typeof CheckoutSchema>;
