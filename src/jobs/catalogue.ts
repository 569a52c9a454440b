import { z } from 'zod';
import { ROLES } from '../db/entities/user.entity.js';
import { BOOKING_TYPES } from '../domain/pricing.js';
import { MAX_GUESTS } from '../domain/time-rules.js';
import { PAYMENT_METHODS } from '../payments/payment-provider.js';
import { ERROR_CODES } from '../domain/errors.js';

/**
 * The one catalogue of queues, job names and payloads. Producers and handlers are typed from these schemas;
 * workers re-parse every payload, so a malformed job fails as `invalid_payload` instead of half-running.
 */
export const QUEUE_NAMES = {
  commands: 'booking-commands',
  notifications: 'notifications',
  /** Notification jobs that failed for good (after their last attempt). Never processed: inspected in Bull Board. */
  deadLetter: 'notifications-dead-letter',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

const isoDate = z.iso.datetime({ offset: true });

export const ActorSchema = z.object({ id: z.uuid(), role: z.enum(ROLES) });
export type Actor = z.infer<typeof ActorSchema>;

/** Fields every command carries. `requestedAt` is the API's clock: time rules are judged at request time. */
const envelope = {
  actor: ActorSchema,
  requestedAt: isoDate,
  // sha256 of the request when it came with an Idempotency-Key: a reuse with another body is refused.
  fingerprint: z.string().nullable().optional(),
};
const onBooking = { ...envelope, bookingId: z.uuid() };

/** A named guest of a booking or cart item; guests count toward the space's capacity. */
export const GuestInputSchema = z.object({ name: z.string().min(1).max(200), email: z.email().max(320) });
export type GuestInput = z.infer<typeof GuestInputSchema>;
const guests = z.array(GuestInputSchema).max(MAX_GUESTS).default([]);

/** Whose cart a cart command acts on, when not the actor's own (staff and admin only). */
const cartOwner = z.uuid().optional();

/** What a booking request and a cart item have in common. */
const slotRequest = {
  spaceId: z.uuid(),
  bookingType: z.enum(BOOKING_TYPES),
  startsAt: isoDate,
  endsAt: isoDate,
  attendees: z.number().int().min(1),
  notes: z.string().nullable(),
  guests,
};

export const commandSchemas = {
  'booking.create': z.object({ ...onBooking, ...slotRequest }),
  'booking.update': z.object({
    ...onBooking,
    notes: z.string().nullable().optional(),
    attendees: z.number().int().min(1).optional(),
    startsAt: isoDate.optional(),
    endsAt: isoDate.optional(),
  }),
  'booking.delete': z.object(onBooking),
  'booking.confirm': z.object(onBooking),
  'booking.cancel': z.object({ ...onBooking, reason: z.string() }),
  'booking.check-in': z.object(onBooking),
  'booking.check-out': z.object(onBooking),
  'booking.complete': z.object(onBooking),
  // Carts act on the actor's own active cart. `holdMinutes` is the API's CART_HOLD_MINUTES (a setting, not a time,
  // so an Idempotency-Key replay has the same body); the hold runs from `requestedAt`.
  'cart.add-item': z.object({ ...envelope, itemId: z.uuid(), ...slotRequest, holdMinutes: z.number().positive() }),
  // `userId` names whose cart (default: the actor's own); another user's cart is for staff and admin only, checked
  // at the API and again in the worker.
  'cart.remove-item': z.object({ ...envelope, itemId: z.uuid(), userId: cartOwner }),
  'cart.clear': z.object({ ...envelope, userId: cartOwner }),
  'cart.checkout': z.object({
    ...envelope,
    paymentMethod: z.enum(PAYMENT_METHODS),
    promoCode: z.string().min(1).max(64).nullable(),
  }),
  'review.create': z.object({
    ...envelope,
    reviewId: z.uuid(),
    bookingId: z.uuid(),
    rating: z.number().int().min(1).max(5),
    comment: z.string().nullable(),
  }),
} as const;

export type CommandName = keyof typeof commandSchemas;
export type CommandPayload<N extends CommandName> = z.infer<(typeof commandSchemas)[N]>;
export const COMMAND_NAMES = Object.keys(commandSchemas) as CommandName[];
export const isCommandName = (name: string): name is CommandName => Object.hasOwn(commandSchemas, name);

/** How a refused command's job fails; GET /jobs/:id shows it as `error`. */
export const JobErrorSchema = z.object({ code: z.enum(ERROR_CODES), message: z.string(), details: z.unknown().optional() });
export type JobError = z.infer<typeof JobErrorSchema>;

const money = (of: string) => z.number().int().optional().describe(`${of}; minor units (cents)`);
/**
 * What a completed command returns (and the inbox stores): `status` always, the affected ids and what else its
 * handler (src/commands) writes. The API documents it as the job status's `result`; later fields may be added.
 */
export const CommandResultSchema = z
  .object({
    status: z
      .string()
      .describe("Booking commands: the booking's status after the command. Cart: `held` (add-item), `removed`, `empty` (clear), `checked_out`. Review: `published`"),
    bookingId: z.uuid().optional().describe('Booking commands and reviews'),
    totalPrice: money('booking.create; checkout: the sum of its bookings'),
    currency: z.string().optional().describe('booking.create, checkout'),
    deleted: z.literal(true).optional().describe('DELETE of a booking'),
    cartId: z.uuid().nullable().optional().describe('Cart commands (null: clear found no cart)'),
    itemId: z.uuid().optional().describe('add-item, remove-item'),
    holdExpiresAt: z.iso.datetime({ offset: true }).optional().describe("add-item: when the item's hold on its slot lapses"),
    replacedItemIds: z.array(z.uuid()).optional().describe('add-item: lapsed items of the same slot it replaced'),
    removed: z.number().int().optional().describe('clear: how many items went'),
    checkoutId: z.uuid().optional().describe('checkout'),
    bookingIds: z.array(z.uuid()).optional().describe('checkout: the bookings it created, confirmed'),
    basePrice: money('checkout'),
    discountAmount: money('checkout'),
    taxAmount: money('checkout'),
    promoCode: z.string().nullable().optional().describe('checkout'),
    paymentMethod: z.string().optional().describe('checkout'),
    paymentReference: z.string().optional().describe('checkout'),
    paymentStatus: z.string().optional().describe('checkout: `invoiced` or `authorized`'),
    reviewId: z.uuid().optional().describe('review.create'),
    rating: z.number().int().optional().describe('review.create'),
  })
  .catchall(z.unknown());
export type CommandResult = z.infer<typeof CommandResultSchema>;

// ---- events (outbox rows → notifications queue) ----

export const BOOKING_EVENT_TYPES = [
  'BOOKING_CREATED',
  'BOOKING_CONFIRMED',
  'BOOKING_CANCELLED',
  'BOOKING_CHECKED_IN',
  'BOOKING_CHECKED_OUT',
  'BOOKING_COMPLETED',
] as const;
export type BookingEventType = (typeof BOOKING_EVENT_TYPES)[number];

export const BookingEventPayloadSchema = z.object({
  bookingId: z.uuid(),
  workspaceId: z.uuid(),
  workspaceName: z.string(),
  // The zone its times are told in (optional: events written before it was carried are told in UTC).
  workspaceTimezone: z.string().optional(),
  spaceId: z.uuid(),
  spaceName: z.string(),
  userId: z.uuid(),
  userEmail: z.string(),
  userName: z.string(),
  status: z.string(),
  startsAt: isoDate,
  endsAt: isoDate,
  timestamp: isoDate,
  reason: z.string().optional(),
});
export type BookingEventPayload = z.infer<typeof BookingEventPayloadSchema>;

/** One schema per event: a cancellation always says why. */
export const bookingEventSchemas = {
  BOOKING_CREATED: BookingEventPayloadSchema,
  BOOKING_CONFIRMED: BookingEventPayloadSchema,
  BOOKING_CANCELLED: BookingEventPayloadSchema.extend({ reason: z.string() }),
  BOOKING_CHECKED_IN: BookingEventPayloadSchema,
  BOOKING_CHECKED_OUT: BookingEventPayloadSchema,
  BOOKING_COMPLETED: BookingEventPayloadSchema,
} as const satisfies Record<BookingEventType, z.ZodType<BookingEventPayload>>;
export const isBookingEventType = (name: string): name is BookingEventType => Object.hasOwn(bookingEventSchemas, name);

// ---- notification jobs (queue "notifications") ----
// An outbox row is published as a job named after its event type; its handler writes the in-app notification and
// fans out one email job and one webhook job per matching endpoint. Payloads carry ids and the event, never secrets
// (a webhook's secret is loaded by endpoint id when it is signed).

const eventJob = <S extends z.ZodType<BookingEventPayload>>(payload: S) => z.object({ outboxId: z.uuid(), payload });
const eventTypeSchema = z.enum(BOOKING_EVENT_TYPES);

export const notificationJobSchemas = {
  BOOKING_CREATED: eventJob(bookingEventSchemas.BOOKING_CREATED),
  BOOKING_CONFIRMED: eventJob(bookingEventSchemas.BOOKING_CONFIRMED),
  BOOKING_CANCELLED: eventJob(bookingEventSchemas.BOOKING_CANCELLED),
  BOOKING_CHECKED_IN: eventJob(bookingEventSchemas.BOOKING_CHECKED_IN),
  BOOKING_CHECKED_OUT: eventJob(bookingEventSchemas.BOOKING_CHECKED_OUT),
  BOOKING_COMPLETED: eventJob(bookingEventSchemas.BOOKING_COMPLETED),
  // One email to one recipient: the booking's member (`userId`), or, when `guest` is set, one of the booking's guests
  // (addressed by name, told who booked; guests have no account, so no in-app notification).
  'email.send': z.object({
    outboxId: z.uuid(),
    eventType: eventTypeSchema,
    userId: z.uuid(),
    to: z.string().min(3),
    guest: z.object({ id: z.uuid(), name: z.string() }).optional(),
    payload: BookingEventPayloadSchema,
  }),
  'webhook.deliver': z.object({
    outboxId: z.uuid(),
    eventType: eventTypeSchema,
    endpointId: z.uuid(),
    payload: BookingEventPayloadSchema,
  }),
} as const satisfies Record<BookingEventType, z.ZodType> & Record<string, z.ZodType>;

export type NotificationJobName = keyof typeof notificationJobSchemas;
export type NotificationJobData<N extends NotificationJobName> = z.infer<(typeof notificationJobSchemas)[N]>;
export type BookingEventJobData = NotificationJobData<BookingEventType>;
export const isNotificationJobName = (name: string): name is NotificationJobName => Object.hasOwn(notificationJobSchemas, name);

/**
 * Deterministic job ids (BullMQ refuses a second job with a live id; ids must not contain ':'). A replayed event adds
 * nothing twice; a job already trimmed from Redis is added again and its handler finds its effect recorded.
 */
export const notificationJobId = {
  event: (outboxId: string) => `outbox-${outboxId}`,
  /** `recipient` is an {@link emailRecipientKey}: the member's user id, or `guest-<guest id>`. */
  email: (outboxId: string, recipient: string) => `email-${outboxId}-${recipient}`,
  webhook: (outboxId: string, endpointId: string) => `webhook-${outboxId}-${endpointId}`,
  deadLetter: (jobId: string) => `dead-${jobId}`,
};

/**
 * Who an email job is for, in its job id: the user id for the booking's member (the ids jobs always had), and
 * `guest-<guest id>` for a guest. A user id is a bare UUID, so the two can never name the same recipient.
 */
export const emailRecipientKey = (job: { userId: string; guest?: { id: string } | undefined }) =>
  job.guest ? `guest-${job.guest.id}` : job.userId;

/** What lands on the dead-letter queue: the failed job as it was, and why. */
export const DeadLetterSchema = z.object({
  queue: z.string(),
  jobId: z.string(),
  name: z.string(),
  data: z.unknown(),
  failedReason: z.string(),
  attemptsMade: z.number().int(),
  failedAt: isoDate,
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;
