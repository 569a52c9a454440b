/**
 * Local-calendar helpers shared by pricing and time rules (internal: not re-exported from index.ts).
 * All wall-clock questions ("is this midnight?", "how many days?") are answered in the workspace's IANA zone,
 * because a UTC day and a local day differ, and DST makes local days 23 or 25 hours long.
 */
import { DateTime, IANAZone } from 'luxon';
import { DomainError } from './errors.js';

const MS_PER_DAY = 86_400_000;

/**
 * An IANA zone name the platform's Intl knows ('UTC', 'Europe/Berlin').
 * Luxon's own zone parser would also take 'UTC+5', 'local' and 'system'; IANAZone.isValidZone does not.
 * The leading-letter check keeps out bare offsets ('+05:00') that newer Intl versions accept as zones.
 */
// luxon builds an Intl.DateTimeFormat on every isValidZone call (a measured hot spot of the worker and the API);
// the answer for a zone name never changes in a process, so it is remembered. Bounded: names come from clients.
const zoneValidity = new Map<string, boolean>();

export function isIanaZone(tz: string): boolean {
  if (typeof tz !== 'string' || !/^[A-Za-z]/.test(tz)) return false;
  let valid = zoneValidity.get(tz);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(tz);
    if (zoneValidity.size >= 1000) zoneValidity.clear();
    zoneValidity.set(tz, valid);
  }
  return valid;
}

export function assertTimeZone(tz: string): void {
  if (!isIanaZone(tz)) {
    const message = `"${String(tz)}" is not a valid IANA time zone (e.g. "Europe/Berlin" or "UTC")`;
    throw new DomainError('validation_error', message, [{ path: 'timezone', message }]);
  }
}

export function isValidDate(d: Date): boolean {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

export function assertDates(startsAt: Date, endsAt: Date): void {
  const issues = [];
  if (!isValidDate(startsAt)) issues.push({ path: 'startsAt', message: 'must be a valid date' });
  if (!isValidDate(endsAt)) issues.push({ path: 'endsAt', message: 'must be a valid date' });
  if (issues.length > 0) throw new DomainError('validation_error', 'Booking dates are invalid', issues);
}

const HOUR_MS = 3_600_000;
/** From here on every UTC offset and transition of the tz database falls on a whole minute (earlier: LMT seconds). */
export const WHOLE_MINUTE_OFFSETS_FROM = Date.UTC(1973, 0, 1);

/**
 * An IANA zone that remembers its UTC offset per UTC hour. Luxon finds every offset through Intl formatting
 * (formatToParts), several per booking between validation, pricing and day counts: a measured hot spot of creates
 * in the API and the worker. An hour whose first and last millisecond have the same offset has it throughout (zones
 * change offset at most once in an hour, never back and forth), so it is remembered; an hour with a transition in
 * it, and instants before 1973, are answered by luxon every time. Offsets are the zone's for all time in a process.
 */
export class HourlyCachedZone extends IANAZone {
  private readonly hours = new Map<number, number>();

  override offset(ts: number): number {
    if (!(ts >= WHOLE_MINUTE_OFFSETS_FROM)) return super.offset(ts);
    const hour = Math.floor(ts / HOUR_MS);
    const known = this.hours.get(hour);
    if (known !== undefined) return known;
    const first = super.offset(hour * HOUR_MS);
    if (first !== super.offset(hour * HOUR_MS + HOUR_MS - 1)) return super.offset(ts);
    // Bounded (about 85 days of distinct hours a zone): bookings cluster in the weeks ahead, and a client choosing
    // far-flung dates must not grow memory.
    if (this.hours.size >= 2048) this.hours.clear();
    this.hours.set(hour, first);
    return first;
  }
}

// One per zone name (bounded: names come from clients), like luxon's own IANAZone.create.
const zones = new Map<string, HourlyCachedZone>();
function zoneOf(tz: string): HourlyCachedZone {
  let zone = zones.get(tz);
  if (!zone) {
    if (zones.size >= 1000) zones.clear();
    zone = new HourlyCachedZone(tz);
    zones.set(tz, zone);
  }
  return zone;
}

export function toLocal(d: Date, tz: string): DateTime {
  return DateTime.fromJSDate(d, { zone: zoneOf(tz) });
}

/**
 * The instant on the zone's clock, as a Date whose UTC fields (year … millisecond) are the local ones: luxon's own
 * arithmetic (the UTC instant plus the zone's offset, cached by the hour above), without building a DateTime. Undefined
 * for a zone name luxon does not know, or an invalid date. Luxon parsing and formatting was a measured share of the
 * worker's CPU: the emails tell a time seven times per command (docs/performance-log.md).
 */
export function wallClock(d: Date, tz: string): Date | undefined {
  const zone = zoneOf(tz);
  const ms = d.getTime();
  if (!zone.isValid || Number.isNaN(ms)) return undefined;
  // As luxon's tsToObj writes it (`offset * 60 * 1000`), so a fractional LMT offset rounds the same way.
  return new Date(ms + zone.offset(ms) * 60 * 1000);
}

/** `2026-12-01 10:00`: a Date's UTC date and time to the minute. */
export const utcMinute = (d: Date): string => d.toISOString().slice(0, 16).replace('T', ' ');

/** `2026-12-01 10:00`: the instant's date and time to the minute on the zone's clock (see {@link wallClock}). */
export function wallClockMinute(d: Date, tz: string): string | undefined {
  const local = wallClock(d, tz);
  return local && utcMinute(local);
}

/**
 * Start of the local day rather than "hour 0": in zones whose DST jump happens at midnight
 * (e.g. America/Santiago) the day begins at 01:00 and luxon's startOf('day') already knows it.
 */
export function isStartOfLocalDay(dt: DateTime): boolean {
  return dt.toMillis() === dt.startOf('day').toMillis();
}

/** Day number of the local calendar date, counted on a UTC axis so DST cannot shift the difference. */
function localDayNumber(dt: DateTime): number {
  return Date.UTC(dt.year, dt.month - 1, dt.day) / MS_PER_DAY;
}

/** Calendar-day distance between the local dates of two instants (same day → 0). */
export function localDayDiff(from: DateTime, to: DateTime): number {
  return localDayNumber(to) - localDayNumber(from);
}

/**
 * Local calendar days touched by the half-open interval [startsAt, endsAt): the day of the last included
 * millisecond counts, so an interval ending exactly at midnight does not touch the next day. Empty → 0.
 */
export function localDaysTouched(startsAt: Date, endsAt: Date, tz: string): number {
  if (endsAt.getTime() <= startsAt.getTime()) return 0;
  const first = toLocal(startsAt, tz);
  const last = toLocal(new Date(endsAt.getTime() - 1), tz);
  return localDayDiff(first, last) + 1;
}

/**
 * Smallest N >= 0 with start.plus({ months: N }) >= end in local time (for a start at the beginning of a local
 * day, the beginning of that later day), and whether that N lands exactly on end.
 * Uses luxon's month arithmetic, which clamps to the month's last day (Jan 31 + 1 month = Feb 28).
 */
export function monthsToCover(startsAt: Date, endsAt: Date, tz: string): { months: number; exact: boolean } {
  const start = toLocal(startsAt, tz);
  const end = endsAt.getTime();
  if (end <= startsAt.getTime()) return { months: 0, exact: end === startsAt.getTime() };
  const endLocal = toLocal(endsAt, tz);
  // A start at the beginning of a local day counts months from day start to day start: where that day began at
  // 01:00 (a DST jump at midnight, America/Santiago), plus({ months }) keeps 01:00, an hour into the next month's day.
  const dayStart = isStartOfLocalDay(start);
  const boundary = (n: number) => {
    const b = start.plus({ months: n });
    return (dayStart ? b.startOf('day') : b).toMillis();
  };
  // Start one below the calendar-month estimate (clamping can push an addition short of it), then step up.
  let n = Math.max(0, (endLocal.year - start.year) * 12 + (endLocal.month - start.month) - 1);
  while (boundary(n) < end) n += 1;
  return { months: n, exact: boundary(n) === end };
}
