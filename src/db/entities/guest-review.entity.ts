import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { BookingSchema } from './booking.entity.js';
import { CartItemSchema } from './cart.entity.js';
import { SpaceSchema, WorkspaceSchema } from './catalog.entity.js';
import { UserSchema } from './user.entity.js';

/**
 * A named guest of a booking, or of a cart item until checkout moves it to the booking (exactly one of the two is
 * set: a CHECK in the migration). Guests count toward the space's capacity: attendees + guests ≤ capacity.
 */
export const GuestSchema = defineEntity({
  name: 'Guest',
  tableName: 'guests',
  properties: {
    id: p.uuid().primary(),
    bookingId: p.manyToOne(BookingSchema).mapToPk().fieldName('booking_id').nullable().index().deleteRule('cascade'),
    cartItemId: p.manyToOne(CartItemSchema).mapToPk().fieldName('cart_item_id').nullable().index().deleteRule('cascade'),
    // Where the guest was listed (0-based): guests are shown in the order they were given.
    position: p.integer(),
    name: p.string().length(200),
    email: p.string().length(320),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Guest = InferEntity<typeof GuestSchema>;

/** A member's review of one of their completed bookings; at most one per booking (UNIQUE booking_id). */
export const BookingReviewSchema = defineEntity({
  name: 'BookingReview',
  tableName: 'booking_reviews',
  properties: {
    id: p.uuid().primary(),
    bookingId: p.manyToOne(BookingSchema).mapToPk().fieldName('booking_id').unique(),
    userId: p.manyToOne(UserSchema).mapToPk().fieldName('user_id'),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id'),
    spaceId: p.manyToOne(SpaceSchema).mapToPk().fieldName('space_id'),
    rating: p.integer(),
    comment: p.text().nullable(),
    commandId: p.string().length(128).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ properties: ['spaceId', 'createdAt'] }],
});
export type BookingReview = InferEntity<typeof BookingReviewSchema>;
