/**
 * Rules on when a booking may be placed, checked in the workspace's time zone: grid alignment, midnight and
 * month boundaries are wall-clock notions, while durations of hourly bookings are real elapsed time.
 */
import { DomainError, type FieldIssue } from './errors.js';
import type { BookingType } from './pricing.js';
import {
  assertDates,
  assertTimeZone,
  isIanaZone,
  isStartOfLocalDay,
  localDayDiff,
  localDaysTouched,
  monthsToCover,
  toLocal,
} from './calendar.js';

export const MIN_HOURLY_MINUTES = 30;
export const SLOT_MINUTES = 15;
export const MAX_HOURLY_HOURS = 24;
export const MAX_DAILY_DAYS = 31;
export const MAX_MONTHS = 12;
/** At most this many named guests on one booking or cart item. */
export const MAX_GUESTS = 20;

const MS_PER_MINUTE = 60_000;

/** An IANA zone name ('UTC', 'Europe/Berlin'); offset junk such as 'UTC+5' or '+05:00' is refused. */
export function isValidTimeZone(tz: string): boolean {
  return isIanaZone(tz);
}

/**
 * A valid zone as the IANA database spells it (`europe/berlin` → `Europe/Berlin`), so what is stored reads as the
 * zone it names. Only the letter case changes: an alias (`Etc/UTC`, `Asia/Calcutta`) is kept as given.
 */
export function canonicalTimeZone(tz: string): string {
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  return resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;
}

function onSlotBoundary(d: Date, tz: string): boolean {
  // Local minutes, not UTC: the grid belongs to the workspace's clock.
  const local = toLocal(d, tz);
  return local.minute % SLOT_MINUTES === 0 && local.second === 0 && local.millisecond === 0;
}

/**
 * Check a requested window against the rules of its booking type. Collects every violation and throws one
 * DomainError('invalid_booking_time', …, FieldIssue[]) so a client can fix all fields at once.
 * An unknown time zone or an unparseable date is a request problem ('validation_error') and is thrown first.
 */
export function validateBookingWindow(input: {
  bookingType: BookingType;
  startsAt: Date;
  endsAt: Date;
  timezone: string;
  now: Date;
  /**
   * The start is the booking's own, not changed by the request (an update of its end only): a start already past is
   * then no error (a meeting under way may be extended), but the new end must still be ahead.
   */
  startKept?: boolean;
}): void {
  const { bookingType, startsAt, endsAt, timezone, now } = input;
  assertTimeZone(timezone);
  assertDates(startsAt, endsAt);

  const issues: FieldIssue[] = [];
  const ordered = endsAt.getTime() > startsAt.getTime();
  if (!ordered) issues.push({ path: 'endsAt', message: 'must be after startsAt' });
  if (startsAt.getTime() < now.getTime()) {
    if (!input.startKept) issues.push({ path: 'startsAt', message: 'must not be in the past' });
    else if (ordered && endsAt.getTime() <= now.getTime()) issues.push({ path: 'endsAt', message: 'must not be in the past' });
  }

  switch (bookingType) {
    case 'hourly': {
      if (!onSlotBoundary(startsAt, timezone)) {
        issues.push({ path: 'startsAt', message: `must be on a ${SLOT_MINUTES}-minute boundary of local time` });
      }
      if (!onSlotBoundary(endsAt, timezone)) {
        issues.push({ path: 'endsAt', message: `must be on a ${SLOT_MINUTES}-minute boundary of local time` });
      }
      // Real elapsed minutes: 01:00–04:00 on a spring-forward night is 2 hours long.
      const minutes = (endsAt.getTime() - startsAt.getTime()) / MS_PER_MINUTE;
      if (ordered && minutes < MIN_HOURLY_MINUTES) {
        issues.push({ path: 'endsAt', message: `hourly bookings last at least ${MIN_HOURLY_MINUTES} minutes` });
      }
      if (ordered && minutes > MAX_HOURLY_HOURS * 60) {
        issues.push({ path: 'endsAt', message: `hourly bookings last at most ${MAX_HOURLY_HOURS} hours` });
      }
      break;
    }
    case 'daily': {
      const start = toLocal(startsAt, timezone);
      const end = toLocal(endsAt, timezone);
      const startOk = isStartOfLocalDay(start);
      const endOk = isStartOfLocalDay(end);
      if (!startOk) issues.push({ path: 'startsAt', message: 'daily bookings must start at local midnight' });
      if (!endOk) issues.push({ path: 'endsAt', message: 'daily bookings must end at local midnight' });
      if (ordered && startOk && endOk) {
        // Count calendar days, not 24-hour blocks: DST days are 23 or 25 hours long.
        const days = localDayDiff(start, end);
        if (days > MAX_DAILY_DAYS) {
          issues.push({ path: 'endsAt', message: `daily bookings last at most ${MAX_DAILY_DAYS} days` });
        }
      }
      break;
    }
    case 'monthly': {
      if (!isStartOfLocalDay(toLocal(startsAt, timezone))) {
        issues.push({ path: 'startsAt', message: 'monthly bookings must start at local midnight' });
      }
      if (ordered) {
        const { months, exact } = monthsToCover(startsAt, endsAt, timezone);
        if (!exact) {
          issues.push({ path: 'endsAt', message: 'must be a whole number of calendar months after startsAt' });
        } else if (months > MAX_MONTHS) {
          issues.push({ path: 'endsAt', message: `monthly bookings last at most ${MAX_MONTHS} months` });
        }
      }
      break;
    }
  }

  if (issues.length > 0) {
    const summary = issues.map((i) => `${i.path} ${i.message}`).join('; ');
    throw new DomainError('invalid_booking_time', `Invalid ${bookingType} booking time: ${summary}`, issues);
  }
}

/**
 * Headcount against capacity. `attendees` counts the member's own party (the member included, so at least 1);
 * `guests` are the named visitors listed on the booking, each one more person in the room. The rule:
 * attendees ≥ 1 and attendees + guests ≤ the space's capacity. A refusal names `guests` when the guests are what
 * tips it over, else `attendees`; `guestsSent: false` (a change of attendees alone, against the guests already listed)
 * names `attendees` either way, the one field the request sent.
 */
export function validateAttendees(attendees: number, capacity: number, guests = 0, guestsSent = true): void {
  const whole = Number.isInteger(attendees) && attendees >= 1;
  if (whole && attendees + guests <= capacity) return;
  if (whole && attendees <= capacity && guests > 0) {
    const message = `${attendees} attendees and ${guests} guest${guests === 1 ? '' : 's'} exceed the space's capacity of ${capacity}`;
    throw new DomainError('capacity_exceeded', message, [{ path: guestsSent ? 'guests' : 'attendees', message }]);
  }
  const message = Number.isInteger(attendees) && attendees > capacity
    ? `${attendees} attendees exceed the space's capacity of ${capacity}`
    : `attendees must be a whole number between 1 and the space's capacity (${capacity})`;
  throw new DomainError('capacity_exceeded', message, [{ path: 'attendees', message }]);
}

/**
 * Progress of a booking in local calendar days, for the booking detail view.
 * totalDays: local days touched by [startsAt, endsAt) (an hourly booking inside one day → 1).
 * daysUsed: 0 before the start, else the start day through today inclusive, capped at totalDays.
 */
export function usageDays(input: { startsAt: Date; endsAt: Date; timezone: string; now: Date }): {
  totalDays: number;
  daysUsed: number;
  daysRemaining: number;
} {
  const { startsAt, endsAt, timezone, now } = input;
  assertTimeZone(timezone);
  assertDates(startsAt, endsAt);
  const totalDays = localDaysTouched(startsAt, endsAt, timezone);
  const daysUsed =
    now.getTime() < startsAt.getTime()
      ? 0
      : Math.min(totalDays, localDayDiff(toLocal(startsAt, timezone), toLocal(now, timezone)) + 1);
  return { totalDays, daysUsed, daysRemaining: totalDays - daysUsed };
}
