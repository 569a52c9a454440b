import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import {
  BookingEventSchema,
  BookingSchema,
  OutboxSchema,
  ReservationSchema,
  SpaceSchema,
  UserSchema,
  WorkspaceSchema,
  type Booking,
  type BookingEvent,
  type Outbox,
  type Space,
  type User,
  type Workspace,
  type StoredEffects,
} from '../db/entities/index.js';
import { DomainError } from '../domain/errors.js';
import type { Actor, BookingEventPayload, BookingEventType } from '../jobs/catalogue.js';

/** What a committed command leaves for after-commit work: cache keys to evict and outbox rows to publish. */
export interface CommandEffects {
  bookingIds: Set<string>;
  userIds: Set<string>;
  workspaceIds: Set<string>;
  spaceIds: Set<string>;
  outboxIds: string[];
  /** The outbox rows themselves, held by the process that wrote them (empty when effects come back from the inbox). */
  events: OutboxEvent[];
}

export type OutboxEvent = Pick<Outbox, 'id' | 'eventType' | 'payload'>;

/** What the audit and outbox rows of a booking need of it. */
export type BookingRef = Pick<Booking, 'id' | 'userId' | 'workspaceId' | 'spaceId' | 'status'>;

/** The names an event carries: its booking's workspace, space and user. */
export interface EventNames {
  workspace: Pick<Workspace, 'id' | 'name' | 'timezone'>;
  space: Pick<Space, 'id' | 'name'>;
  user: Pick<User, 'id' | 'email' | 'name'>;
}

export const storeEffects = (e: CommandEffects): StoredEffects => ({
  bookingIds: [...e.bookingIds],
  userIds: [...e.userIds],
  workspaceIds: [...e.workspaceIds],
  spaceIds: [...e.spaceIds],
  outboxIds: [...e.outboxIds],
});

export const loadEffects = (e: StoredEffects): CommandEffects => ({
  bookingIds: new Set(e.bookingIds),
  userIds: new Set(e.userIds),
  workspaceIds: new Set(e.workspaceIds),
  spaceIds: new Set(e.spaceIds),
  outboxIds: [...e.outboxIds],
  events: [],
});

export const emptyEffects = (): CommandEffects => ({
  bookingIds: new Set(),
  userIds: new Set(),
  workspaceIds: new Set(),
  spaceIds: new Set(),
  outboxIds: [],
  events: [],
});

const isStaff = (actor: Actor | null) => actor === null || actor.role === 'staff' || actor.role === 'admin';

/**
 * Everything a command handler touches inside its transaction. `actor` is null for the scheduler's sweeps.
 * `now` is the time the command is judged at: the API's request time for commands, the sweep's clock for sweeps.
 */
export class CommandContext {
  readonly effects = emptyEffects();

  constructor(
    readonly em: EntityManager,
    readonly commandId: string | null,
    readonly actor: Actor | null,
    readonly now: Date,
  ) {}

  /** SELECT … FOR UPDATE: commands on one booking run one after another. Deleted bookings do not exist. */
  async lockBooking(id: string): Promise<Booking> {
    const booking = await this.em.findOne(
      BookingSchema,
      { id, deletedAt: null },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (!booking) throw new DomainError('not_found', `Booking ${id} not found`);
    // A member acting on another's booking learns nothing about it: same answer as a missing one.
    if (!isStaff(this.actor) && booking.userId !== this.actor?.id)
      throw new DomainError('not_found', `Booking ${id} not found`);
    return booking;
  }

  requireStaff(what: string): void {
    if (!isStaff(this.actor)) throw new DomainError('forbidden', `Only staff may ${what}`);
  }

  touched(booking: BookingRef): void {
    this.effects.bookingIds.add(booking.id);
    this.effects.userIds.add(booking.userId);
    this.effects.workspaceIds.add(booking.workspaceId);
    this.effects.spaceIds.add(booking.spaceId);
  }

  /** Writes the audit row of a transition (see {@link auditRow}). */
  audit(booking: Booking, action: string, fromStatus: string | null): void {
    this.em.create(BookingEventSchema, this.auditRow(booking, action, fromStatus));
  }

  /** The audit row of a transition, and the caches it touches; `audit` writes it (the group commit inserts it itself). */
  auditRow(booking: BookingRef, action: string, fromStatus: string | null): BookingEvent {
    this.touched(booking);
    return {
      id: randomUUID(),
      bookingId: booking.id,
      action,
      fromStatus,
      toStatus: booking.status,
      actorId: this.actor?.id ?? null,
      commandId: this.commandId,
      at: this.now,
    };
  }

  /** Writes the event to the outbox in this transaction; it is published after commit (see {@link eventRow}). */
  async emit(type: BookingEventType, booking: Booking, extra: { reason?: string } = {}): Promise<void> {
    // One after another: they share the transaction's single connection (usually from the identity map anyway).
    const workspace = await this.em.findOneOrFail(WorkspaceSchema, booking.workspaceId);
    const space = await this.em.findOneOrFail(SpaceSchema, booking.spaceId);
    const user = await this.em.findOneOrFail(UserSchema, booking.userId);
    this.em.create(OutboxSchema, this.eventRow(type, booking, { workspace, space, user }, extra));
  }

  /**
   * The outbox row of an event, named from the booking's workspace, space and user, and held for publishing after
   * commit; `emit` writes it (the group commit inserts it itself).
   */
  eventRow(type: BookingEventType, booking: BookingRef & Pick<Booking, 'startsAt' | 'endsAt'>, names: EventNames, extra: { reason?: string } = {}): Outbox {
    const { workspace, space, user } = names;
    const payload: BookingEventPayload = {
      bookingId: booking.id,
      workspaceId: workspace.id,
      workspaceName: workspace.name,
      workspaceTimezone: workspace.timezone,
      spaceId: space.id,
      spaceName: space.name,
      userId: user.id,
      userEmail: user.email,
      userName: user.name,
      status: booking.status,
      startsAt: booking.startsAt.toISOString(),
      endsAt: booking.endsAt.toISOString(),
      timestamp: this.now.toISOString(),
      ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
    };
    const id = randomUUID();
    this.effects.outboxIds.push(id);
    this.effects.events.push({ id, eventType: type, payload });
    return { id, eventType: type, aggregateId: booking.id, payload, commandId: this.commandId, createdAt: new Date(), publishedAt: null, attempts: 0 };
  }

  /** Frees the booking's claim on its slot (cancel, delete). */
  async releaseClaim(booking: Booking): Promise<void> {
    await this.em.nativeDelete(ReservationSchema, { bookingId: booking.id });
  }

  /**
   * Ends the booking's claim at `at` when that falls inside the booking: a party that checked out early is done (a
   * completed booking is never checked in again), so the rest of its time is bookable by others. A check-out before
   * the start (check-in opens 15 minutes early) keeps the claim whole, as a claim cannot be empty.
   */
  async endClaimAt(booking: Booking, at: Date): Promise<void> {
    if (at.getTime() <= booking.startsAt.getTime() || at.getTime() >= booking.endsAt.getTime()) return;
    await this.em.nativeUpdate(ReservationSchema, { bookingId: booking.id }, { endsAt: at });
  }
}
