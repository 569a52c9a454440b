/**
 * The booking state machine (DESIGN.md invariant 5). Pure: callers load the booking under a row lock, pass `now`,
 * and persist the returned Transition. Every refusal is `invalid_transition`, which the worker does not retry.
 */
import { DomainError } from './errors.js';

export const BOOKING_STATUSES = ['pending', 'confirmed', 'active', 'completed', 'cancelled'] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const BOOKING_ACTIONS = [
  'confirm',
  'cancel',
  'check_in',
  'check_out',
  'complete',
  'auto_complete',
  'expire',
] as const;
export type BookingAction = (typeof BOOKING_ACTIONS)[number];

/** Check-in opens this many minutes before the booking starts (and closes at its end). */
export const CHECK_IN_EARLY_MINUTES = 15;

export interface BookingSnapshot {
  status: BookingStatus;
  startsAt: Date;
  endsAt: Date;
}

export interface Transition {
  from: BookingStatus;
  to: BookingStatus;
  noShow: boolean;
  cancellationReason?: string;
}

const ACTION_LABELS: Record<BookingAction, string> = {
  confirm: 'confirm',
  cancel: 'cancel',
  check_in: 'check in',
  check_out: 'check out',
  complete: 'complete',
  auto_complete: 'auto-complete',
  expire: 'expire',
};

function refuse(from: BookingStatus, action: BookingAction | 'update' | 'delete', why?: string): never {
  const label = action === 'update' || action === 'delete' ? action : ACTION_LABELS[action];
  const message = `Cannot ${label} a booking that is ${from}` + (why ? `: ${why}` : '');
  throw new DomainError('invalid_transition', message, { from, action });
}

const to = (from: BookingStatus, next: BookingStatus, noShow = false): Transition => ({ from, to: next, noShow });

/**
 * Decide what `action` does to `booking` at `now`. Returns the transition to persist; throws
 * DomainError('invalid_transition', …, { from, action }) for any combination the machine does not allow.
 */
export function decideTransition(
  booking: BookingSnapshot,
  action: BookingAction,
  now: Date,
  opts?: { reason?: string },
): Transition {
  const { status, startsAt, endsAt } = booking;
  const t = now.getTime();
  const started = t >= startsAt.getTime();
  const ended = t >= endsAt.getTime();

  switch (action) {
    case 'confirm':
      if (status !== 'pending') break;
      // A pending booking whose start has passed belongs to the expiry sweep, not to staff.
      if (started) refuse(status, action, 'its start time has passed, so it expires instead');
      return to(status, 'confirmed');

    case 'cancel': {
      if (status !== 'pending' && status !== 'confirmed') break;
      const transition = to(status, 'cancelled');
      if (opts?.reason !== undefined) transition.cancellationReason = opts.reason;
      return transition;
    }

    case 'check_in': {
      if (status !== 'confirmed') break;
      const opensAt = startsAt.getTime() - CHECK_IN_EARLY_MINUTES * 60_000;
      if (t < opensAt) {
        refuse(status, action, `check-in opens ${CHECK_IN_EARLY_MINUTES} minutes before the start`);
      }
      if (ended) refuse(status, action, 'the booking has already ended');
      return to(status, 'active');
    }

    case 'check_out':
      if (status !== 'active') break;
      return to(status, 'completed');

    case 'complete':
      if (status === 'active') return to(status, 'completed');
      if (status !== 'confirmed') break;
      // Completing an unattended booking records a no-show, which is only known once it is over.
      if (!ended) refuse(status, action, 'a booking nobody checked in to can only be completed after it ends');
      return to(status, 'completed', true);

    case 'auto_complete':
      if (status !== 'active' && status !== 'confirmed') break;
      if (!ended) refuse(status, action, 'the booking has not ended yet');
      return to(status, 'completed', status === 'confirmed');

    case 'expire':
      if (status !== 'pending') break;
      if (!started) refuse(status, action, 'its start time has not passed yet');
      return { from: status, to: 'cancelled', noShow: false, cancellationReason: 'expired' };
  }
  return refuse(status, action);
}

/** PATCH is allowed only before the booking is in use or finished. */
export function assertEditable(booking: BookingSnapshot): void {
  if (booking.status !== 'pending' && booking.status !== 'confirmed') {
    refuse(booking.status, 'update', 'only pending or confirmed bookings can be changed');
  }
}

/** DELETE is allowed only for bookings that never took effect (pending) or were already cancelled. */
export function assertDeletable(booking: BookingSnapshot): void {
  if (booking.status !== 'pending' && booking.status !== 'cancelled') {
    refuse(booking.status, 'delete', 'only pending or cancelled bookings can be deleted');
  }
}
