import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { BOOKING_STATUSES } from '../../domain/booking-state.js';
import { BOOKING_TYPES } from '../../domain/pricing.js';
import { money, timestamps } from './base.js';
import { SpaceSchema, WorkspaceSchema } from './catalog.entity.js';
import { UserSchema } from './user.entity.js';

export const BookingSchema = defineEntity({
  name: 'Booking',
  tableName: 'bookings',
  properties: {
    // Chosen by the API before the command is enqueued, so the client knows it at once.
    id: p.uuid().primary(),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id').index(),
    spaceId: p.manyToOne(SpaceSchema).mapToPk().fieldName('space_id'),
    userId: p.manyToOne(UserSchema).mapToPk().fieldName('user_id'),
    bookingType: p.enum([...BOOKING_TYPES]),
    startsAt: p.datetime(),
    endsAt: p.datetime(),
    status: p.enum([...BOOKING_STATUSES]),
    attendees: p.integer().default(1),
    notes: p.text().nullable(),
    basePrice: money(),
    discountAmount: money().default(0),
    // What its checkout's promo code granted (0 without one): a move re-prices with it, capped at the new base price,
    // so a cap on a shorter slot is not kept when the booking moves back.
    grantedDiscount: money().default(0),
    taxAmount: money(),
    totalPrice: money(),
    currency: p.string().length(3),
    checkedInAt: p.datetime().nullable(),
    checkedOutAt: p.datetime().nullable(),
    cancelledAt: p.datetime().nullable(),
    cancellationReason: p.string().length(500).nullable(),
    noShow: p.boolean().default(false),
    // Soft delete keeps the audit trail's foreign keys intact; deleted bookings are invisible to reads.
    deletedAt: p.datetime().nullable(),
    version: p.integer().version(),
    ...timestamps,
  },
  indexes: [
    { properties: ['userId', 'createdAt'] },
    { properties: ['spaceId', 'startsAt'] },
    // Sweeps scan by status and end/start time.
    { properties: ['status', 'endsAt'] },
  ],
});
export type Booking = InferEntity<typeof BookingSchema>;

export const RESERVATION_KINDS = ['booking', 'hold'] as const;

/**
 * The claims table: one row per live claim on a space's time. The migration adds
 * `EXCLUDE USING gist (space_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)`, so two overlapping
 * claims cannot both exist whatever the application does. A booking's claim is deleted when it is cancelled
 * or deleted; a cart hold carries `expiresAt`.
 */
export const ReservationSchema = defineEntity({
  name: 'Reservation',
  tableName: 'reservations',
  properties: {
    id: p.uuid().primary(),
    spaceId: p.manyToOne(SpaceSchema).mapToPk().fieldName('space_id'),
    kind: p.enum([...RESERVATION_KINDS]),
    bookingId: p.manyToOne(BookingSchema).mapToPk().fieldName('booking_id').nullable().unique().deleteRule('cascade'),
    startsAt: p.datetime(),
    endsAt: p.datetime(),
    expiresAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Reservation = InferEntity<typeof ReservationSchema>;

/** Audit trail: one row per transition, written in the command's transaction. */
export const BookingEventSchema = defineEntity({
  name: 'BookingEvent',
  tableName: 'booking_events',
  properties: {
    id: p.uuid().primary(),
    bookingId: p.manyToOne(BookingSchema).mapToPk().fieldName('booking_id').index(),
    action: p.string().length(32),
    fromStatus: p.string().length(16).nullable(),
    toStatus: p.string().length(16),
    // Null for the scheduler's sweeps.
    actorId: p.uuid().nullable(),
    commandId: p.string().length(128).nullable(),
    at: p.datetime(),
  },
});
export type BookingEvent = InferEntity<typeof BookingEventSchema>;
