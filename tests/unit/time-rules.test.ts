import { describe, it, expect } from 'vitest';
import {
  DomainError,
  MAX_DAILY_DAYS,
  MAX_HOURLY_HOURS,
  MAX_MONTHS,
  MIN_HOURLY_MINUTES,
  SLOT_MINUTES,
  canonicalTimeZone,
  isValidTimeZone,
  usageDays,
  validateAttendees,
  validateBookingWindow,
  type BookingType,
  type FieldIssue,
} from '../../src/domain/index.js';
import { caught, d } from '../helpers/domain.js';

const NOW = d('2026-01-01T00:00:00Z');
const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';


const check = (bookingType: BookingType, startsAt: string, endsAt: string, timezone = BERLIN, now = NOW) =>
  validateBookingWindow({ bookingType, startsAt: d(startsAt), endsAt: d(endsAt), timezone, now });

/** The issues a refused window carries (asserting the code). */
function issuesOf(bookingType: BookingType, startsAt: string, endsAt: string, timezone = BERLIN, now = NOW) {
  const e = caught(() => check(bookingType, startsAt, endsAt, timezone, now));
  expect(e.code).toBe('invalid_booking_time');
  return e.details as FieldIssue[];
}

describe('constants', () => {
  it('match the product rules', () => {
    expect([MIN_HOURLY_MINUTES, SLOT_MINUTES, MAX_HOURLY_HOURS, MAX_DAILY_DAYS, MAX_MONTHS]).toEqual([
      30, 15, 24, 31, 12,
    ]);
  });
});

describe('validateBookingWindow: common rules', () => {
  it('accepts a window starting exactly at now', () => {
    const now = d('2026-05-04T07:00:00Z');
    expect(check('hourly', '2026-05-04T09:00:00+02:00', '2026-05-04T10:00:00+02:00', BERLIN, now)).toBeUndefined();
  });

  it('refuses a start in the past', () => {
    const now = d('2026-05-04T07:00:00.001Z');
    expect(issuesOf('hourly', '2026-05-04T09:00:00+02:00', '2026-05-04T10:00:00+02:00', BERLIN, now)).toEqual([
      { path: 'startsAt', message: 'must not be in the past' },
    ]);
  });

  it('a start the update keeps may be past (extending a booking under way), but the new end must be ahead', () => {
    const now = d('2026-05-04T07:40:00Z'); // 09:40 in Berlin, inside 09:30–10:00
    const keep = (endsAt: string) =>
      caught(() => validateBookingWindow({ bookingType: 'hourly', startsAt: d('2026-05-04T09:30:00+02:00'), endsAt: d(endsAt), timezone: BERLIN, now, startKept: true }));
    expect(validateBookingWindow({ bookingType: 'hourly', startsAt: d('2026-05-04T09:30:00+02:00'), endsAt: d('2026-05-04T10:15:00+02:00'), timezone: BERLIN, now, startKept: true })).toBeUndefined();
    expect(keep('2026-05-04T09:45:00+02:00').details).toEqual([{ path: 'endsAt', message: 'hourly bookings last at least 30 minutes' }]);
    expect(keep('2026-05-04T09:30:00+02:00').details).toEqual([{ path: 'endsAt', message: 'must be after startsAt' }]);
    const now2 = d('2026-05-04T08:20:00Z'); // 10:20: the end 10:15 has passed
    const late = caught(() =>
      validateBookingWindow({ bookingType: 'hourly', startsAt: d('2026-05-04T09:30:00+02:00'), endsAt: d('2026-05-04T10:15:00+02:00'), timezone: BERLIN, now: now2, startKept: true }),
    );
    expect(late.details).toEqual([{ path: 'endsAt', message: 'must not be in the past' }]);
  });

  it('refuses an end before or at the start', () => {
    expect(issuesOf('hourly', '2026-05-04T10:00:00+02:00', '2026-05-04T09:00:00+02:00')).toEqual([
      { path: 'endsAt', message: 'must be after startsAt' },
    ]);
    expect(issuesOf('daily', '2026-05-04T00:00:00+02:00', '2026-05-04T00:00:00+02:00')).toEqual([
      { path: 'endsAt', message: 'must be after startsAt' },
    ]);
  });

  it('collects every violation into one error with a readable message', () => {
    const now = d('2026-06-01T00:00:00Z');
    const e = caught(() => check('hourly', '2026-05-04T09:05:00+02:00', '2026-05-04T09:20:00+02:00', BERLIN, now));
    expect(e.code).toBe('invalid_booking_time');
    expect(e.details).toEqual([
      { path: 'startsAt', message: 'must not be in the past' },
      { path: 'startsAt', message: 'must be on a 15-minute boundary of local time' },
      { path: 'endsAt', message: 'must be on a 15-minute boundary of local time' },
      { path: 'endsAt', message: 'hourly bookings last at least 30 minutes' },
    ]);
    expect(e.message).toContain('startsAt must not be in the past');
    expect(e.message).toContain('endsAt hourly bookings last at least 30 minutes');
  });

  it('refuses an unknown time zone with validation_error before anything else', () => {
    const e = caught(() => check('hourly', '2020-05-04T09:05:00Z', '2020-05-04T09:00:00Z', 'UTC+5'));
    expect(e.code).toBe('validation_error');
    expect(e.details).toEqual([
      { path: 'timezone', message: '"UTC+5" is not a valid IANA time zone (e.g. "Europe/Berlin" or "UTC")' },
    ]);
  });

  it('refuses an invalid date with validation_error', () => {
    const e = caught(() => check('hourly', '2026-05-04T09:00:00Z', 'not a date', 'UTC'));
    expect(e.code).toBe('validation_error');
    expect(e.details).toEqual([{ path: 'endsAt', message: 'must be a valid date' }]);
  });
});

describe('validateBookingWindow: hourly', () => {
  it('accepts 30 minutes and 24 hours on the local 15-minute grid', () => {
    expect(check('hourly', '2026-05-04T09:15:00+02:00', '2026-05-04T09:45:00+02:00')).toBeUndefined();
    expect(check('hourly', '2026-05-04T09:00:00+02:00', '2026-05-05T09:00:00+02:00')).toBeUndefined();
  });

  it('refuses 15 minutes and 24 h 15 min', () => {
    expect(issuesOf('hourly', '2026-05-04T09:00:00+02:00', '2026-05-04T09:15:00+02:00')).toEqual([
      { path: 'endsAt', message: 'hourly bookings last at least 30 minutes' },
    ]);
    expect(issuesOf('hourly', '2026-05-04T09:00:00+02:00', '2026-05-05T09:15:00+02:00')).toEqual([
      { path: 'endsAt', message: 'hourly bookings last at most 24 hours' },
    ]);
  });

  it('refuses stray seconds and milliseconds', () => {
    expect(issuesOf('hourly', '2026-05-04T09:00:30+02:00', '2026-05-04T10:00:00.500+02:00')).toEqual([
      { path: 'startsAt', message: 'must be on a 15-minute boundary of local time' },
      { path: 'endsAt', message: 'must be on a 15-minute boundary of local time' },
    ]);
  });

  it('Asia/Kathmandu (+05:45): local 10:00 is UTC 04:15 and is on the grid', () => {
    const start = d('2026-05-04T10:00:00+05:45');
    expect(start.toISOString()).toBe('2026-05-04T04:15:00.000Z');
    expect(check('hourly', '2026-05-04T10:00:00+05:45', '2026-05-04T11:30:00+05:45', 'Asia/Kathmandu')).toBeUndefined();
    // UTC 04:00 is local 09:45, also a local quarter hour.
    expect(check('hourly', '2026-05-04T04:00:00Z', '2026-05-04T05:00:00Z', 'Asia/Kathmandu')).toBeUndefined();
  });

  it('Asia/Kathmandu: local 10:05 (UTC 04:20) is off the grid', () => {
    expect(issuesOf('hourly', '2026-05-04T04:20:00Z', '2026-05-04T05:15:00Z', 'Asia/Kathmandu')).toEqual([
      { path: 'startsAt', message: 'must be on a 15-minute boundary of local time' },
    ]);
  });

  it('Asia/Kolkata (+05:30): local 10:00 accepted, local 10:10 refused', () => {
    expect(check('hourly', '2026-05-04T10:00:00+05:30', '2026-05-04T11:00:00+05:30', 'Asia/Kolkata')).toBeUndefined();
    expect(issuesOf('hourly', '2026-05-04T10:10:00+05:30', '2026-05-04T11:00:00+05:30', 'Asia/Kolkata')).toEqual([
      { path: 'startsAt', message: 'must be on a 15-minute boundary of local time' },
    ]);
  });

  it('across the Berlin spring-forward: 01:00–04:00 local (2 real hours) is fine', () => {
    expect(check('hourly', '2026-03-29T01:00:00+01:00', '2026-03-29T04:00:00+02:00')).toBeUndefined();
  });

  it('across the Berlin fall-back: midnight to midnight is 25 real hours, over the 24-hour limit', () => {
    expect(issuesOf('hourly', '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00')).toEqual([
      { path: 'endsAt', message: 'hourly bookings last at most 24 hours' },
    ]);
  });

  it('across the New York spring-forward: midnight to midnight is 23 real hours and allowed', () => {
    expect(check('hourly', '2026-03-08T00:00:00-05:00', '2026-03-09T00:00:00-04:00', NEW_YORK)).toBeUndefined();
  });
});

describe('validateBookingWindow: daily', () => {
  it('Berlin 2026-03-29 (23 h) between local midnights is valid', () => {
    expect(check('daily', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z')).toBeUndefined();
  });

  it('Berlin 2026-10-25 (25 h) between local midnights is valid', () => {
    expect(check('daily', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z')).toBeUndefined();
  });

  it('New York 2026-03-08 between local midnights is valid', () => {
    expect(check('daily', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', NEW_YORK)).toBeUndefined();
  });

  it.each([
    [BERLIN, '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z'],
    [BERLIN, '2026-10-25T00:00:00Z', '2026-10-26T00:00:00Z'],
    [NEW_YORK, '2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z'],
  ])('%s: UTC midnights %s → %s are refused', (tz, start, end) => {
    expect(issuesOf('daily', start, end, tz)).toEqual([
      { path: 'startsAt', message: 'daily bookings must start at local midnight' },
      { path: 'endsAt', message: 'daily bookings must end at local midnight' },
    ]);
  });

  it('UTC midnights are fine when the workspace is in UTC', () => {
    expect(check('daily', '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z', 'UTC')).toBeUndefined();
  });

  it('allows 31 days and refuses 32', () => {
    expect(check('daily', '2026-05-01T00:00:00+02:00', '2026-06-01T00:00:00+02:00')).toBeUndefined();
    expect(issuesOf('daily', '2026-05-01T00:00:00+02:00', '2026-06-02T00:00:00+02:00')).toEqual([
      { path: 'endsAt', message: 'daily bookings last at most 31 days' },
    ]);
  });

  it('31 days across a DST change counts calendar days, not 24-hour blocks', () => {
    // 2026-03-15 → 2026-04-15 is 31 local days but 743 real hours.
    expect(check('daily', '2026-03-15T00:00:00+01:00', '2026-04-15T00:00:00+02:00')).toBeUndefined();
  });

  it('America/Santiago: on the day whose midnight is skipped, the day starts at 01:00', () => {
    // Chile springs forward at 00:00 on 2026-09-06, so local 00:00 does not exist that day.
    expect(check('daily', '2026-09-06T01:00:00-03:00', '2026-09-07T00:00:00-03:00', 'America/Santiago')).toBeUndefined();
  });
});

describe('validateBookingWindow: monthly', () => {
  it('one month across the Berlin spring-forward', () => {
    expect(check('monthly', '2026-03-01T00:00:00+01:00', '2026-04-01T00:00:00+02:00')).toBeUndefined();
  });

  it("America/Santiago: months run from day start to day start, where a day starts at 01:00 (midnight skipped)", () => {
    // Chile springs forward at 00:00 on 2026-09-06: that day starts at 01:00 -03:00.
    expect(check('monthly', '2026-09-06T01:00:00-03:00', '2026-10-06T00:00:00-03:00', 'America/Santiago')).toBeUndefined();
    expect(issuesOf('monthly', '2026-09-06T01:00:00-03:00', '2026-10-06T01:00:00-03:00', 'America/Santiago')).toEqual([
      { path: 'endsAt', message: 'must be a whole number of calendar months after startsAt' },
    ]);
    // Into that day: a month from 2026-08-06 ends when 2026-09-06 begins.
    expect(check('monthly', '2026-08-06T00:00:00-04:00', '2026-09-06T01:00:00-03:00', 'America/Santiago')).toBeUndefined();
  });

  it('Jan 31 → Feb 28 is one month (as luxon adds months)', () => {
    expect(check('monthly', '2026-01-31T00:00:00+01:00', '2026-02-28T00:00:00+01:00')).toBeUndefined();
  });

  it('Jan 31 → Mar 1 is not a whole number of months', () => {
    expect(issuesOf('monthly', '2026-01-31T00:00:00+01:00', '2026-03-01T00:00:00+01:00')).toEqual([
      { path: 'endsAt', message: 'must be a whole number of calendar months after startsAt' },
    ]);
  });

  it('Feb 28 → Mar 31 is not a whole number of months (Feb 28 + 1 month = Mar 28)', () => {
    expect(issuesOf('monthly', '2026-02-28T00:00:00+01:00', '2026-03-31T00:00:00+02:00')).toEqual([
      { path: 'endsAt', message: 'must be a whole number of calendar months after startsAt' },
    ]);
  });

  it('allows 12 months and refuses 13', () => {
    expect(check('monthly', '2026-02-01T00:00:00+01:00', '2027-02-01T00:00:00+01:00')).toBeUndefined();
    expect(issuesOf('monthly', '2026-02-01T00:00:00+01:00', '2027-03-01T00:00:00+01:00')).toEqual([
      { path: 'endsAt', message: 'monthly bookings last at most 12 months' },
    ]);
  });

  it('refuses a start that is not local midnight', () => {
    expect(issuesOf('monthly', '2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z')).toEqual([
      { path: 'startsAt', message: 'monthly bookings must start at local midnight' },
    ]);
  });

  it('refuses the same calendar month expressed in UTC for a New York workspace', () => {
    expect(issuesOf('monthly', '2026-04-01T04:00:00Z', '2026-05-01T00:00:00Z', NEW_YORK)).toEqual([
      { path: 'endsAt', message: 'must be a whole number of calendar months after startsAt' },
    ]);
  });
});

describe('validateAttendees', () => {
  it.each([
    [1, 1],
    [1, 10],
    [10, 10],
  ])('%i attendees fit capacity %i', (attendees, capacity) => {
    expect(validateAttendees(attendees, capacity)).toBeUndefined();
  });

  it('over capacity names both numbers', () => {
    const e = caught(() => validateAttendees(11, 10));
    expect(e.code).toBe('capacity_exceeded');
    expect(e.message).toBe("11 attendees exceed the space's capacity of 10");
    expect(e.details).toEqual([{ path: 'attendees', message: e.message }]);
  });

  it('guests tipping it over: named `guests`, or `attendees` when only the attendees were sent', () => {
    const listed = caught(() => validateAttendees(3, 3, 1));
    expect(listed.details).toEqual([{ path: 'guests', message: "3 attendees and 1 guest exceed the space's capacity of 3" }]);
    const changed = caught(() => validateAttendees(3, 3, 1, false));
    expect(changed.details).toEqual([{ path: 'attendees', message: listed.message }]);
  });

  it.each([0, -1, 1.5, Number.NaN])('%s attendees is refused', (attendees) => {
    const e = caught(() => validateAttendees(attendees, 10));
    expect(e.code).toBe('capacity_exceeded');
    expect(e.details).toEqual([
      { path: 'attendees', message: "attendees must be a whole number between 1 and the space's capacity (10)" },
    ]);
  });
});

describe('usageDays', () => {
  const threeDays = { startsAt: d('2026-05-04T00:00:00+02:00'), endsAt: d('2026-05-07T00:00:00+02:00'), timezone: BERLIN };

  it.each([
    ['before the start', '2026-05-03T21:59:59+02:00', 0],
    ['at the start', '2026-05-04T00:00:00+02:00', 1],
    ['late on day 1', '2026-05-04T23:59:00+02:00', 1],
    ['on day 2', '2026-05-05T00:00:00+02:00', 2],
    ['on day 3', '2026-05-06T12:00:00+02:00', 3],
    ['at the end', '2026-05-07T00:00:00+02:00', 3],
    ['long after', '2026-07-01T00:00:00+02:00', 3],
  ])('3-day booking, %s → %i used', (_label, now, used) => {
    expect(usageDays({ ...threeDays, now: d(now) })).toEqual({ totalDays: 3, daysUsed: used, daysRemaining: 3 - used });
  });

  it('counts local days, not UTC days: 22:30Z on May 4 is May 5 in Berlin', () => {
    expect(usageDays({ ...threeDays, now: d('2026-05-04T22:30:00Z') })).toEqual({
      totalDays: 3,
      daysUsed: 2,
      daysRemaining: 1,
    });
  });

  it('an hourly booking inside one day is 1 day', () => {
    const hourly = { startsAt: d('2026-05-04T09:00:00+02:00'), endsAt: d('2026-05-04T11:00:00+02:00'), timezone: BERLIN };
    expect(usageDays({ ...hourly, now: d('2026-05-04T08:00:00+02:00') })).toEqual({ totalDays: 1, daysUsed: 0, daysRemaining: 1 });
    expect(usageDays({ ...hourly, now: d('2026-05-04T10:00:00+02:00') })).toEqual({ totalDays: 1, daysUsed: 1, daysRemaining: 0 });
    expect(usageDays({ ...hourly, now: d('2026-05-09T10:00:00+02:00') })).toEqual({ totalDays: 1, daysUsed: 1, daysRemaining: 0 });
  });

  it('an hourly booking across local midnight touches 2 days', () => {
    const overnight = { startsAt: d('2026-05-04T23:00:00+02:00'), endsAt: d('2026-05-05T01:00:00+02:00'), timezone: BERLIN };
    expect(usageDays({ ...overnight, now: d('2026-05-04T23:30:00+02:00') })).toEqual({ totalDays: 2, daysUsed: 1, daysRemaining: 1 });
    expect(usageDays({ ...overnight, now: d('2026-05-05T00:30:00+02:00') })).toEqual({ totalDays: 2, daysUsed: 2, daysRemaining: 0 });
  });

  it('the 25-hour Berlin day is 1 day', () => {
    expect(
      usageDays({ startsAt: d('2026-10-24T22:00:00Z'), endsAt: d('2026-10-25T23:00:00Z'), timezone: BERLIN, now: d('2026-10-25T22:30:00Z') }),
    ).toEqual({ totalDays: 1, daysUsed: 1, daysRemaining: 0 });
  });

  it('a monthly booking Jan 31 → Feb 28 spans 28 days; on Feb 10 it has used 11', () => {
    expect(
      usageDays({
        startsAt: d('2026-01-31T00:00:00+01:00'),
        endsAt: d('2026-02-28T00:00:00+01:00'),
        timezone: BERLIN,
        now: d('2026-02-10T12:00:00+01:00'),
      }),
    ).toEqual({ totalDays: 28, daysUsed: 11, daysRemaining: 17 });
  });

  it('refuses an unknown time zone', () => {
    const e = caught(() => usageDays({ ...threeDays, timezone: 'Mars/Olympus', now: NOW }));
    expect(e.code).toBe('validation_error');
  });
});

describe('isValidTimeZone', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5'])(
    'accepts %s',
    (tz) => {
      expect(isValidTimeZone(tz)).toBe(true);
    },
  );

  it.each(['UTC+5', 'UTC+05:00', '+05:00', '-0300', 'local', 'system', 'Mars/Olympus', 'Europe/Berlinn', '', ' '])(
    'rejects %j',
    (tz) => {
      expect(isValidTimeZone(tz)).toBe(false);
    },
  );
});

describe('canonicalTimeZone', () => {
  it('spells a zone as IANA does, changing only the case', () => {
    expect(canonicalTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('AMERICA/NEW_YORK')).toBe('America/New_York');
    expect(canonicalTimeZone('utc')).toBe('UTC');
    expect(canonicalTimeZone('Etc/UTC')).toBe('Etc/UTC');
    expect(canonicalTimeZone('Asia/Calcutta')).toBe('Asia/Calcutta');
  });
});
