import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { BookingSchema, GuestSchema, WorkspaceSchema, type Booking } from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import { validateAttendees, validateBookingWindow } from '../../domain/time-rules.js';
import type { CommandName } from '../../jobs/catalogue.js';
import { isStaffRole, type AppDeps, type AppEnv } from '../context.js';
import { requires } from '../guards.js';
import * as S from '../schemas.js';
import { bookingDto, detailCodec, detailEntry, detailJson, pageBody, pageCodec } from '../serializers.js';
import { slots } from '../../cache/keys.js';
import { commandIdentity, identityAndPrior, storedJobIds, submitCommand } from '../submit-command.js';
import { json, body } from '../openapi-helpers.js';
import { findBookableSpace, findBookableSpaceAndInbox } from '../lookups.js';
import { priorOf, queuedFingerprint } from '../job-status.js';
import { attempt, attemptAsync } from '../attempt.js';
import { findAndCount } from '../../db/orm.js';
import { apiRouter } from '../router.js';

const tags = ['bookings'];
const base = '/booking/bookings';

const createBooking = createRoute({
  method: 'post', path: base, tags, summary: 'Request a booking (enqueues booking.create)',
  description: 'The booking id is assigned at once and returned; the booking exists (status pending) once the job completes.',
  request: { headers: S.CommandHeaders, ...body(S.CreateBookingInput) },
  responses: S.commandResponses,
});
const listBookings = createRoute({
  method: 'get', path: base, tags, summary: 'List bookings (own; staff see all)',
  description: 'Filter by status, type, workspace, space and time (`from`, `to`: the bookings overlapping that window); newest created first unless `sort` says otherwise.',
  request: { query: S.BookingListQuery },
  responses: { 200: json(S.page(S.Booking), 'A page of bookings, in the order `sort` names'), ...S.errors },
});
const getBooking = createRoute({
  method: 'get', path: `${base}/{id}`, tags, summary: 'A booking, with days used and remaining',
  request: { params: S.IdParam },
  responses: { 200: json(S.BookingDetail, 'Booking'), ...S.errors },
});
const updateBooking = createRoute({
  method: 'patch', path: `${base}/{id}`, tags, summary: 'Change notes, attendees or the time (pending or confirmed)',
  request: { params: S.IdParam, headers: S.CommandHeaders, ...body(S.UpdateBookingInput) },
  responses: S.commandResponses,
});
const deleteBooking = createRoute({
  method: 'delete', path: `${base}/{id}`, tags, summary: 'Delete a pending or cancelled booking',
  request: { params: S.IdParam, headers: S.CommandHeaders },
  responses: S.commandResponses,
});
const cancelBooking = createRoute({
  method: 'post', path: `${base}/{id}/cancel`, tags, summary: 'Cancel (owner or staff)',
  request: { params: S.IdParam, headers: S.CommandHeaders, ...body(S.CancelBookingInput) },
  responses: S.commandResponses,
});
const action = (segment: string, summary: string, staffOnly: boolean) =>
  createRoute({
    method: 'post', path: `${base}/{id}/${segment}`, tags, summary,
    ...(staffOnly ? { middleware: [requires('staff')] } : {}),
    request: { params: S.IdParam, headers: S.CommandHeaders },
    responses: S.commandResponses,
  });

/** Each sort's order, the id last so that pages never overlap or skip among equal times. */
const LIST_ORDER = {
  '-createdAt': { createdAt: 'desc', id: 'desc' },
  startsAt: { startsAt: 'asc', id: 'asc' },
  '-startsAt': { startsAt: 'desc', id: 'desc' },
} as const satisfies Record<(typeof S.BOOKING_SORTS)[number], Record<string, 'asc' | 'desc'>>;

type Submitted = never; // command handlers answer with a plain Response (202 or 200), typed by the route's responses

export function bookingRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();

  /** The booking as the caller may see it: missing, deleted and other members' bookings are all 404. */
  async function visibleBooking(c: Context<AppEnv>, id: string): Promise<Booking> {
    const user = c.get('user');
    const booking = await em().findOne(BookingSchema, { id, deletedAt: null });
    if (!booking || (!isStaffRole(user.role) && booking.userId !== user.id))
      throw new DomainError('not_found', `Booking ${id} not found`);
    return booking;
  }

  /**
   * What a command on booking `id` acts on: the booking as the caller may see it (visibleBooking), unless the
   * request's Idempotency-Key already holds a command. A replay answers its job even where the booking has changed
   * or gone since (a cancel retried after a DELETE): its checks ran when it was accepted. `id` is the path's, which
   * its schema lower-cases as Postgres writes uuids (the first request's fingerprint).
   */
  async function commandTarget(c: Context<AppEnv>, id: string) {
    const { identity, prior } = await identityAndPrior(c, deps);
    const booking = prior ? undefined : await visibleBooking(c, id);
    return { identity, prior, bookingId: booking?.id ?? id, booking };
  }

  async function spaceAndZone(spaceId: string) {
    const space = await findBookableSpace(deps.orm, spaceId);
    return { space, timezone: space.timezone };
  }

  app.openapi(createBooking, async (c) => {
    const input = c.req.valid('json');
    // The lookups first, in as few round trips as the Idempotency-Key's order allows (what BullMQ holds under the
    // key's job id; then the space and, when BullMQ held nothing, the inbox, in one query: job-status.ts readPrior);
    // the refusals after, in the order the checks always had: unknown space, inactive, time rules, capacity (these
    // three not for a replay), a malformed key, a failed BullMQ read (Redis down: 503), then (submitCommand) a key
    // reused with another body.
    const identity = attempt(() => commandIdentity(c));
    const jobIds = identity.ok && identity.value.key !== undefined ? storedJobIds(identity.value) : undefined;
    const queued = jobIds === undefined ? undefined : await attemptAsync(queuedFingerprint(deps, jobIds));
    const inboxOf = queued?.ok && queued.value === undefined ? jobIds : undefined;
    const { space, inbox } = await findBookableSpaceAndInbox(deps.orm, input.spaceId, inboxOf);
    const prior = queued?.ok ? priorOf(queued.value, inbox ?? null) : undefined;
    // A replay answers its job (or, another body, 422): these checks ran when it was accepted, and they may fail now
    // for a command that was fine then (its start has passed, the space was deactivated).
    if (!prior) {
      if (!space.active) throw new DomainError('space_inactive', `Space ${space.id} is not bookable`);
      // Checked here for a 400 with field paths; the worker checks again against the committed state.
      validateBookingWindow({ bookingType: input.bookingType, startsAt: new Date(input.startsAt), endsAt: new Date(input.endsAt), timezone: space.timezone, now: new Date() });
      validateAttendees(input.attendees, space.capacity, input.guests?.length ?? 0);
    }
    if (!identity.ok) throw identity.error;
    if (queued && !queued.ok) throw queued.error;
    const bookingId = identity.value.newId;
    const fields = { ...input, notes: input.notes ?? null, guests: input.guests ?? [], bookingId };
    return (await submitCommand(c, deps, 'booking.create', fields, identity.value, { bookingId }, prior)) as Submitted;
  });

  app.openapi(listBookings, async (c) => {
    const user = c.get('user');
    const q = c.req.valid('query');
    const staff = isStaffRole(user.role);
    if (!staff && q.userId !== undefined && q.userId !== user.id) throw new DomainError('forbidden', "Only staff may list another user's bookings");
    const userId = staff ? q.userId : user.id;
    const where = {
      deletedAt: null,
      ...(userId ? { userId } : {}),
      ...(q.status ? { status: { $in: q.status.split(',') as Booking['status'][] } } : {}),
      ...(q.bookingType ? { bookingType: q.bookingType } : {}),
      ...(q.workspaceId ? { workspaceId: q.workspaceId } : {}),
      ...(q.spaceId ? { spaceId: q.spaceId } : {}),
      ...(q.from ? { endsAt: { $gt: new Date(q.from) } } : {}),
      ...(q.to ? { startsAt: { $lt: new Date(q.to) } } : {}),
    };
    // Members' lists are keyed by their own id, so one member's list is never served to another.
    const slot = slots.bookingList(staff ? { staff: true, workspaceId: q.workspaceId, userId: q.userId } : { userId: user.id }, q);
    // Cached as the response body: a hit sends it as it came, where parsing every item and serializing it again was
    // most of a cached list read's CPU.
    const body = await deps.cache.through(
      slot,
      async () => {
        const [items, total] = await findAndCount(em(), BookingSchema, where, {
          orderBy: LIST_ORDER[q.sort],
          limit: q.pageSize,
          offset: (q.page - 1) * q.pageSize,
        });
        return pageBody(items.map(bookingDto), q.page, q.pageSize, total);
      },
      pageCodec,
    );
    // Typed as never: the route's typed JSON response cannot see through a pre-serialized body.
    return c.body(body! as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'application/json' }) as never;
  });

  app.openapi(getBooking, async (c) => {
    const user = c.get('user');
    const id = c.req.valid('param').id;
    const entry = await deps.cache.through(
      slots.bookingDetail(id),
      async () => {
        const fork = em();
        const booking = await fork.findOne(BookingSchema, { id, deletedAt: null });
        if (!booking) return null;
        const workspace = await fork.findOneOrFail(WorkspaceSchema, booking.workspaceId);
        const guests = await fork.find(GuestSchema, { bookingId: id }, { orderBy: { position: 'asc' } });
        return detailEntry(bookingDto(booking), guests.map((g) => ({ id: g.id, name: g.name, email: g.email })), workspace.timezone);
      },
      detailCodec,
    );
    // The cached entry is shared; who may see it is decided per request.
    if (!entry || (!isStaffRole(user.role) && entry.userId !== user.id)) throw new DomainError('not_found', `Booking ${id} not found`);
    // Typed as never, as the list's: the route's typed JSON response cannot see through a pre-serialized body.
    return c.body(detailJson(entry, new Date()), 200, { 'Content-Type': 'application/json' }) as never;
  });

  app.openapi(updateBooking, async (c) => {
    const { identity, prior, bookingId, booking } = await commandTarget(c, c.req.valid('param').id);
    const input = c.req.valid('json');
    if (booking) {
      const { space, timezone } = await spaceAndZone(booking.spaceId);
      if (input.attendees !== undefined) validateAttendees(input.attendees, space.capacity, await em().count(GuestSchema, { bookingId }), false);
      if (input.startsAt !== undefined || input.endsAt !== undefined) {
        const startsAt = new Date(input.startsAt ?? booking.startsAt);
        const endsAt = new Date(input.endsAt ?? booking.endsAt);
        validateBookingWindow({ bookingType: booking.bookingType, startsAt, endsAt, timezone, now: new Date(), startKept: input.startsAt === undefined });
      }
    }
    return (await submitCommand(c, deps, 'booking.update', { ...input, bookingId }, identity, { bookingId }, prior)) as Submitted;
  });

  app.openapi(deleteBooking, async (c) => {
    const { identity, prior, bookingId } = await commandTarget(c, c.req.valid('param').id);
    return (await submitCommand(c, deps, 'booking.delete', { bookingId }, identity, { bookingId }, prior)) as Submitted;
  });

  app.openapi(cancelBooking, async (c) => {
    const { identity, prior, bookingId } = await commandTarget(c, c.req.valid('param').id);
    const { reason } = c.req.valid('json');
    return (await submitCommand(c, deps, 'booking.cancel', { bookingId, reason }, identity, { bookingId }, prior)) as Submitted;
  });

  const simple: [string, string, CommandName, boolean][] = [
    ['confirm', 'Confirm a pending booking (staff)', 'booking.confirm', true],
    ['check-in', 'Check in (owner or staff; from 15 min before start until the end)', 'booking.check-in', false],
    ['check-out', 'Check out (owner or staff)', 'booking.check-out', false],
    ['complete', 'Complete an active booking, or a confirmed one past its end as a no-show (staff)', 'booking.complete', true],
  ];
  for (const [segment, summary, name, staffOnly] of simple) {
    app.openapi(action(segment, summary, staffOnly), async (c) => {
      const { identity, prior, bookingId } = await commandTarget(c, c.req.valid('param').id);
      return (await submitCommand(c, deps, name, { bookingId } as never, identity, { bookingId }, prior)) as Submitted;
    });
  }

  return app;
}
