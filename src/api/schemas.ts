import { z } from '@hono/zod-openapi';
import { BOOKING_STATUSES } from '../domain/booking-state.js';
import { ERROR_CODES } from '../domain/errors.js';
import { BOOKING_TYPES } from '../domain/pricing.js';
import { isValidTimeZone, MAX_GUESTS } from '../domain/time-rules.js';
import { SPACE_KINDS } from '../db/entities/index.js';
import { digits } from '../decimal.js';
import { CommandResultSchema, JobErrorSchema } from '../jobs/catalogue.js';

/** Request and response shapes of the HTTP API. The OpenAPI document is generated from these. */

/**
 * Free text as Postgres can store it, refused here rather than failing or changing at the write: no NUL (U+0000), and
 * no unpaired UTF-16 surrogate (which reaches a UTF-8 database as U+FFFD, so the answer would differ from the row).
 */
export const STORABLE_TEXT = /^(?:[^\u0000\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;
export const notStorable = 'must not contain NUL characters or unpaired surrogates';
export const Text = (max: number) => z.string().trim().min(1).max(max).regex(STORABLE_TEXT, notStorable);

/**
 * Lower-cased once accepted: a UUID in capitals names the same row, and every id the service keys on (cache keys,
 * owner checks, job ids) is compared as text.
 */
export const Uuid = z.uuid().toLowerCase().openapi({ example: '0b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10' });
/**
 * The instants Postgres `timestamptz` and the rest of the service can hold: years 0001–9999 once in UTC (the format
 * allows `0000-…` and offsets that push `9999-12-31` into year 10000; Postgres has no year 0).
 */
const MIN_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const MAX_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');
export const IsoDateTime = z.iso
  // abort: a string that is no timestamp at all gets that one issue, not a range issue too.
  .datetime({ offset: true, abort: true })
  .refine((v) => {
    const t = Date.parse(v);
    return t >= MIN_INSTANT && t <= MAX_INSTANT;
  }, 'must be between the years 0001 and 9999 (UTC)')
  .openapi({ description: 'ISO 8601 with offset', example: '2026-12-01T09:00:00+01:00' });

/**
 * An instant a command carries, written as UTC with milliseconds however the client wrote it ('…T09:00:00Z',
 * '…T11:00:00+02:00'): one spelling per instant, so an Idempotency-Key's replay re-serialised by another formatter
 * is the same body, not a 422.
 */
export const CommandInstant = IsoDateTime.transform((v) => new Date(v).toISOString());

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

const err = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });
export const errors = {
  400: err('Validation failed; `details` lists field paths'),
  401: err('Missing, invalid or expired token'),
  403: err('Role not allowed'),
  404: err('Not found (or not yours)'),
  409: err('Conflict'),
  413: err('Body too large'),
  422: err('Idempotency-Key reused with another body'),
  503: {
    ...err('Postgres or Redis unavailable'),
    headers: { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' as const } } },
  },
} as const;

/** A 201 whose `Location` names the new resource's own GET. */
export const created = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  description: 'Created',
  headers: { Location: { description: "The new resource's URL", schema: { type: 'string' as const } } },
});

export const IdParam = z.object({ id: Uuid.openapi({ param: { name: 'id', in: 'path' } }) });

/** A whole number in a query string, as decimal digits (src/decimal.ts): one spelling per page. */
const QueryInt = (min: number, max: number, fallback: number) =>
  digits(z.number().int().min(min).max(max))
    .default(fallback)
    .openapi({ type: 'integer', minimum: min, maximum: max, default: fallback });

export const Pagination = z.object({
  page: QueryInt(1, 100_000, 1),
  pageSize: QueryInt(1, 100, 10),
});
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), page: z.number().int(), pageSize: z.number().int(), total: z.number().int() });

// ---- catalog ----
/** The ISO 4217 codes the runtime's ICU data knows (Node ships full ICU). */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export const WorkspaceInput = z
  .strictObject({
    name: Text(200),
    // In the schema, not the handler: a bad zone is listed with the body's other issues, not after they are fixed.
    timezone: z.string().min(1).max(64).refine(isValidTimeZone, 'not an IANA time zone').openapi({ example: 'Europe/Berlin' }),
    currency: z
      .string()
      // abort: a malformed code gets that one issue, not the unknown-code one too.
      .regex(/^[A-Z]{3}$/, { message: 'ISO 4217 code, e.g. EUR', abort: true })
      .refine((c) => CURRENCIES.has(c), 'not an ISO 4217 currency code')
      .openapi({ example: 'EUR' }),
    taxRateBps: z.number().int().min(0).max(10_000).openapi({ description: 'Tax in basis points (1900 = 19%)' }),
  })
  .openapi('WorkspaceInput');
// Answers are objects of their own, not `.extend()`s of the inputs: OpenAPI renders an extend as `allOf` with the
// input, whose `additionalProperties: false` then refuses the answer's own fields (id, timestamps).
export const Workspace = z.object({ ...WorkspaceInput.shape, id: Uuid, createdAt: IsoDateTime, updatedAt: IsoDateTime }).openapi('Workspace');

const money = z.number().int().min(0).max(100_000_000);
export const SpaceInput = z
  .strictObject({
    name: Text(200),
    kind: z.enum(SPACE_KINDS),
    capacity: z.number().int().min(1).max(1000),
    hourlyRate: money.openapi({ description: 'Minor units (cents)' }),
    dailyRate: money,
    monthlyRate: money,
    active: z.boolean().optional(),
  })
  .openapi('SpaceInput');
/** At least one field: an empty change is a 400, not a 200 that changed nothing. */
const someField = (v: object) => Object.keys(v).length > 0;
/** Checked only when the fields passed: an unknown key is reported alone, not with "nothing to change" too. */
const noOtherIssue = (payload: { issues: unknown[] }) => payload.issues.length === 0;

/** A workspace's zone and currency stay as created: its bookings are timed and priced in them. */
export const WorkspaceUpdate = WorkspaceInput.pick({ name: true, taxRateBps: true })
  .partial()
  .strict()
  .refine(someField, { message: 'at least one field to change: name, taxRateBps', when: noOtherIssue })
  .openapi('WorkspaceUpdate');

/**
 * A space's kind stays as created. New rates and capacity apply to bookings made from then on (a booking keeps its
 * price); `active: false` stops new bookings and cart items (`space_inactive`), and keeps those it has.
 */
export const SpaceUpdate = SpaceInput.omit({ kind: true })
  .partial()
  .strict()
  .refine(someField, { message: 'at least one field to change: name, capacity, hourlyRate, dailyRate, monthlyRate, active', when: noOtherIssue })
  .openapi('SpaceUpdate');

export const Space = z.object({
  ...SpaceInput.shape,
  id: Uuid,
  workspaceId: Uuid,
  active: z.boolean(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
}).openapi('Space');

/** What is wrong with a window's end, if anything: it must come after the start (`fromName`), at most `maxDays` on. */
const windowEndProblem = (from: string, to: string, fromName: string, maxDays = Infinity): string | undefined =>
  Date.parse(to) <= Date.parse(from)
    ? `must be after ${fromName}`
    : Date.parse(to) - Date.parse(from) > maxDays * 86_400_000
      ? `window is at most ${maxDays} days`
      : undefined;
/** A window's end checked by windowEndProblem, the issue at `path`. */
const checkWindowEnd = (ctx: z.RefinementCtx, path: string, ...args: Parameters<typeof windowEndProblem>) => {
  const message = windowEndProblem(...args);
  if (message) ctx.addIssue({ code: 'custom', path: [path], message });
};

export const AvailabilityQuery = z
  .object({ from: IsoDateTime, to: IsoDateTime })
  .superRefine((q, ctx) => checkWindowEnd(ctx, 'to', q.from, q.to, 'from', 366));
/**
 * A workspace's spaces, narrowed: of a kind, with room for so many, bookable or not, and free for a whole window
 * (`availableFrom` to `availableTo`: bookable, no booking and no live cart hold overlapping it).
 */
export const SpaceListQuery = Pagination.extend({
  kind: z.enum(SPACE_KINDS).optional(),
  minCapacity: digits(z.number().int().min(1).max(1000))
    .optional()
    .openapi({ type: 'integer', minimum: 1, maximum: 1000, description: 'room for at least this many people (attendees + guests)' }),
  active: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true'))
    .openapi({ description: '`true`: bookable spaces only; `false`: deactivated ones only' }),
  availableFrom: CommandInstant.optional().openapi({ description: 'with availableTo: only spaces free for the whole window' }),
  availableTo: CommandInstant.optional(),
}).superRefine((q, ctx) => {
  const { availableFrom: from, availableTo: to } = q;
  if (from === undefined && to === undefined) return;
  if (from === undefined || to === undefined)
    ctx.addIssue({ code: 'custom', path: [from === undefined ? 'availableFrom' : 'availableTo'], message: 'availableFrom and availableTo go together' });
  else checkWindowEnd(ctx, 'availableTo', from, to, 'availableFrom', 366);
});

export const Availability = z
  .object({
    spaceId: Uuid,
    from: IsoDateTime,
    to: IsoDateTime,
    busy: z.array(z.object({ startsAt: IsoDateTime, endsAt: IsoDateTime, kind: z.enum(['booking', 'hold']) })),
  })
  .openapi('Availability');

// ---- bookings ----
const notes = z.string().max(2000).regex(STORABLE_TEXT, notStorable).nullable();
export const GuestInput = z
  .strictObject({ name: Text(200), email: z.email().max(320).openapi({ example: 'grace@example.com' }) })
  .openapi('GuestInput');
/** Named guests: each counts toward capacity (attendees + guests ≤ capacity); one email at most once. */
export const GuestsInput = z
  .array(GuestInput)
  .max(MAX_GUESTS)
  .superRefine((guests, ctx) => {
    const seen = new Set<string>();
    guests.forEach((g, i) => {
      const email = g.email.toLowerCase();
      if (seen.has(email)) ctx.addIssue({ code: 'custom', path: [i, 'email'], message: 'listed twice' });
      seen.add(email);
    });
  })
  .openapi({ description: `At most ${MAX_GUESTS}; attendees + guests must not exceed the space's capacity` });
export const CreateBookingInput = z
  .strictObject({
    spaceId: Uuid,
    bookingType: z.enum(BOOKING_TYPES),
    startsAt: CommandInstant,
    endsAt: CommandInstant,
    attendees: z.number().int().min(1).max(1000).default(1),
    notes: notes.optional(),
    guests: GuestsInput.optional(),
  })
  .openapi('CreateBookingInput');

export const UpdateBookingInput = z
  .strictObject({
    notes: notes.optional(),
    attendees: z.number().int().min(1).max(1000).optional(),
    startsAt: CommandInstant.optional(),
    endsAt: CommandInstant.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'give at least one of notes, attendees, startsAt, endsAt' })
  .openapi('UpdateBookingInput');

export const CancelBookingInput = z
  .strictObject({ reason: Text(500) })
  .openapi('CancelBookingInput');

/** How a booking list is ordered: newest created first (the default), or by start, earliest or latest first. */
export const BOOKING_SORTS = ['-createdAt', 'startsAt', '-startsAt'] as const;
/**
 * One status or several, comma-separated (`pending,confirmed`: what is still to come), written back in one spelling
 * (sorted, once each) for the list's cache key.
 */
const StatusList = z
  .string()
  .transform((v, ctx) => {
    const parts = v.split(',');
    if (!parts.every((p) => (BOOKING_STATUSES as readonly string[]).includes(p))) {
      ctx.addIssue({ code: 'custom', message: `one or more of ${BOOKING_STATUSES.join(', ')}, comma-separated` });
      return z.NEVER;
    }
    return [...new Set(parts)].sort().join(',');
  })
  .openapi({ type: 'string', example: 'pending,confirmed', description: `one or more of ${BOOKING_STATUSES.join(', ')}, comma-separated` });

export const BookingListQuery = Pagination.extend({
  status: StatusList.optional(),
  bookingType: z.enum(BOOKING_TYPES).optional(),
  workspaceId: Uuid.optional(),
  spaceId: Uuid.optional(),
  userId: Uuid.optional().openapi({ description: "staff and admin: that member's bookings; a member naming anyone else gets 403" }),
  // The bookings whose booked time overlaps [from, to): `from=<now>&sort=startsAt` lists those not yet over, soonest
  // first. Written in one spelling (UTC, milliseconds), as the list's cache key holds them.
  from: CommandInstant.optional().openapi({ description: 'only bookings ending after this instant' }),
  to: CommandInstant.optional().openapi({ description: 'only bookings starting before this instant' }),
  sort: z.enum(BOOKING_SORTS).default('-createdAt').openapi({ description: 'newest created first (default), or by start time' }),
}).superRefine((q, ctx) => {
  if (q.from !== undefined && q.to !== undefined) checkWindowEnd(ctx, 'to', q.from, q.to, 'from');
});

export const Booking = z
  .object({
    id: Uuid,
    workspaceId: Uuid,
    spaceId: Uuid,
    userId: Uuid,
    bookingType: z.enum(BOOKING_TYPES),
    startsAt: IsoDateTime,
    endsAt: IsoDateTime,
    status: z.enum(BOOKING_STATUSES),
    attendees: z.number().int(),
    notes: z.string().nullable(),
    basePrice: z.number().int(),
    discountAmount: z.number().int(),
    taxAmount: z.number().int(),
    totalPrice: z.number().int(),
    currency: z.string(),
    checkedInAt: IsoDateTime.nullable(),
    checkedOutAt: IsoDateTime.nullable(),
    cancelledAt: IsoDateTime.nullable(),
    cancellationReason: z.string().nullable(),
    noShow: z.boolean(),
    version: z.number().int(),
    createdAt: IsoDateTime,
    updatedAt: IsoDateTime,
  })
  .openapi('Booking');
export const Guest = z.object({ id: Uuid, name: z.string(), email: z.string() }).openapi('Guest');
export const BookingDetail = Booking.extend({
  guests: z.array(Guest),
  totalDays: z.number().int(),
  daysUsed: z.number().int(),
  daysRemaining: z.number().int(),
}).openapi('BookingDetail');

// ---- jobs ----
export const JOB_STATES = ['waiting', 'delayed', 'active', 'completed', 'failed'] as const;

/**
 * A completed command's job result (src/jobs/catalogue.ts), documented so generated clients can read its fields. A
 * new object over the catalogue's fields: a schema made before zod-openapi extended zod (the workers' import order)
 * has no `.openapi`.
 */
export const CommandResult = z.object(CommandResultSchema.shape).catchall(z.unknown()).openapi('CommandResult');

/** Job ids are UUIDs, but for keyed jobs of earlier versions (submit-command.ts), so not typed as one. */
const JobId = z.string().openapi({ description: "A UUID (for a keyed command, derived from the key); a keyed job accepted before 2026-12-07 keeps its id, `idem-` and 40 hex digits" });

export const JobStatus = z
  .object({
    id: JobId,
    name: z.string(),
    state: z.enum(JOB_STATES),
    result: CommandResult.optional(),
    error: JobErrorSchema.optional().openapi({ description: 'A failed job: its stable refusal code (`invalid_transition`, `slot_unavailable`, …), or `internal_error`' }),
    attemptsMade: z.number().int().optional().openapi({ description: 'While BullMQ holds the job; absent once only the inbox answers' }),
    createdAt: IsoDateTime,
    finishedAt: IsoDateTime.optional().openapi({ description: "BullMQ's finish; once only the inbox answers, the commit's instant (ms earlier)" }),
  })
  .openapi('JobStatus');
export type JobStatusBody = z.infer<typeof JobStatus>;

export const CommandAccepted = z
  .object({ jobId: JobId, statusUrl: z.string(), bookingId: Uuid.optional(), itemId: Uuid.optional(), reviewId: Uuid.optional() })
  .openapi('CommandAccepted');

export const JobIdParam = z.object({
  jobId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/, 'not a job id')
    // Every job id the API hands out is lower case (a UUID; or `idem-` and hex, a keyed job of an earlier version).
    .toLowerCase()
    .openapi({ param: { name: 'jobId', in: 'path' } }),
});

/** Headers every command route documents. */
export const CommandHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional()
    .openapi({ description: 'Same user + key + body → the same job and result; same key with another body → 422' }),
  prefer: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: '`wait=N` (N ≤ 30): answer 200 with the job status if it finishes within N seconds' }),
});

export const commandResponses = {
  200: {
    content: { 'application/json': { schema: JobStatus } },
    description: 'Finished within `Prefer: wait`',
    headers: { 'Preference-Applied': { description: '`wait=N`, the wait applied (N capped by PREFER_WAIT_MAX_SECONDS, at most 30)', schema: { type: 'string' as const } } },
  },
  202: {
    content: { 'application/json': { schema: CommandAccepted } },
    description: 'Enqueued; poll statusUrl',
    headers: { Location: { description: 'The job status URL (statusUrl)', schema: { type: 'string' as const } } },
  },
  ...errors,
} as const;
