import { z } from 'zod';
import { ROLES } from '../db/entities/user.entity.js';
import { BOOKING_TYPES } from '../domain/pricing.js';

/**
 * The one catalogue of queues, job names and payloads. Producers and handlers are typed from these schemas;
 * workers re-parse every payload, so a malformed job fails as `invalid_payload` instead of half-running.
 */
export const QUEUE_NAMES = {
  commands: 'booking-commands',
  notifications: 'notifications',
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

export const commandSchemas = {
  'booking.create': z.object({
    ...onBooking,
    spaceId: z.uuid(),
    bookingType: z.enum(BOOKING_TYPES),
    startsAt: isoDate,
    endsAt: isoDate,
    attendees: z.number().int().min(1),
    notes: z.string().nullable(),
  }),
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
} as const;

export type CommandName = keyof typeof commandSchemas;
export type CommandPayload<N extends CommandName> = z.infer<(typeof commandSchemas)[N]>;
export const COMMAND_NAMES = Object.keys(commandSchemas) as CommandName[];
export const isCommandName = (name: string): name is CommandName => Object.hasOwn(commandSchemas, name);

/** How a refused command's job fails; GET /jobs/:id shows it as `error`. */
export const JobErrorSchema = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() });
export type JobError = z.infer<typeof JobErrorSchema>;

/** What a completed booking command returns (and the inbox stores). */
export const CommandResultSchema = z.object({ bookingId: z.uuid(), status: z.string() }).catchall(z.unknown());
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
