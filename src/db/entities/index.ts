import { BookingEventSchema, BookingSchema, ReservationSchema } from './booking.entity.js';
import { CartItemSchema, CartSchema, CheckoutSchema, PromoCodeSchema } from './cart.entity.js';
import { SpaceSchema, WorkspaceSchema } from './catalog.entity.js';
import { EmailSendSchema, NotificationSchema, WebhookDeliverySchema, WebhookEndpointSchema } from './follow-ups.entity.js';
import { BookingReviewSchema, GuestSchema } from './guest-review.entity.js';
import { OutboxSchema, ProcessedCommandSchema } from './messaging.entity.js';
import { UserSchema } from './user.entity.js';

export * from './booking.entity.js';
export * from './cart.entity.js';
export * from './catalog.entity.js';
export * from './follow-ups.entity.js';
export * from './guest-review.entity.js';
export * from './messaging.entity.js';
export * from './user.entity.js';

export const entities = [
  WorkspaceSchema,
  SpaceSchema,
  UserSchema,
  BookingSchema,
  ReservationSchema,
  BookingEventSchema,
  ProcessedCommandSchema,
  OutboxSchema,
  NotificationSchema,
  EmailSendSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  CartSchema,
  CartItemSchema,
  PromoCodeSchema,
  CheckoutSchema,
  GuestSchema,
  BookingReviewSchema,
];
