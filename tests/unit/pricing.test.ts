import { describe, it, expect } from 'vitest';
import { DomainError, billableUnits, quotePrice, taxOn, type Rates } from '../../src/domain/index.js';
import { caught, d } from '../helpers/domain.js';

const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';
const rates: Rates = { hourlyRate: 1250, dailyRate: 4999, monthlyRate: 150_000 };


describe('billableUnits: hourly (started hours of real time)', () => {
  it.each([
    ['30 min', '2026-05-04T09:30:00+02:00', 1],
    ['60 min', '2026-05-04T10:00:00+02:00', 1],
    ['61 min', '2026-05-04T10:01:00+02:00', 2],
    ['90 min', '2026-05-04T10:30:00+02:00', 2],
    ['8 h', '2026-05-04T17:00:00+02:00', 8],
    ['24 h', '2026-05-05T09:00:00+02:00', 24],
  ])('%s → %i', (_label, end, units) => {
    expect(billableUnits('hourly', d('2026-05-04T09:00:00+02:00'), d(end), BERLIN)).toBe(units);
  });

  it('Berlin spring-forward (2026-03-29): 01:00–04:00 local is 2 real hours', () => {
    // 01:00 CET = 00:00Z; 04:00 CEST = 02:00Z.
    expect(billableUnits('hourly', d('2026-03-29T01:00:00+01:00'), d('2026-03-29T04:00:00+02:00'), BERLIN)).toBe(2);
  });

  it('Berlin fall-back (2026-10-25): 01:00–04:00 local is 4 real hours', () => {
    // 01:00 CEST = 23:00Z on the 24th; 04:00 CET = 03:00Z.
    expect(billableUnits('hourly', d('2026-10-25T01:00:00+02:00'), d('2026-10-25T04:00:00+01:00'), BERLIN)).toBe(4);
  });

  it('New York spring-forward (2026-03-08): 00:00–04:00 local is 3 real hours', () => {
    expect(billableUnits('hourly', d('2026-03-08T00:00:00-05:00'), d('2026-03-08T04:00:00-04:00'), NEW_YORK)).toBe(3);
  });
});

describe('billableUnits: daily (local calendar days)', () => {
  it('an ordinary day and a three-day stay', () => {
    expect(billableUnits('daily', d('2026-05-04T00:00:00+02:00'), d('2026-05-05T00:00:00+02:00'), BERLIN)).toBe(1);
    expect(billableUnits('daily', d('2026-05-04T00:00:00+02:00'), d('2026-05-07T00:00:00+02:00'), BERLIN)).toBe(3);
  });

  it('Berlin 2026-03-29 (23-hour day) is 1 day', () => {
    const start = d('2026-03-28T23:00:00Z');
    const end = d('2026-03-29T22:00:00Z');
    expect(end.getTime() - start.getTime()).toBe(23 * 3_600_000);
    expect(billableUnits('daily', start, end, BERLIN)).toBe(1);
  });

  it('Berlin 2026-10-25 (25-hour day) is 1 day', () => {
    const start = d('2026-10-24T22:00:00Z');
    const end = d('2026-10-25T23:00:00Z');
    expect(end.getTime() - start.getTime()).toBe(25 * 3_600_000);
    expect(billableUnits('daily', start, end, BERLIN)).toBe(1);
  });

  it('New York 2026-03-08 (23-hour day) is 1 day', () => {
    expect(billableUnits('daily', d('2026-03-08T05:00:00Z'), d('2026-03-09T04:00:00Z'), NEW_YORK)).toBe(1);
  });

  it('a week across the Berlin spring-forward is 7 days', () => {
    expect(billableUnits('daily', d('2026-03-26T00:00:00+01:00'), d('2026-04-02T00:00:00+02:00'), BERLIN)).toBe(7);
  });

  it('UTC midnights are not Berlin midnights: the window touches 2 local days', () => {
    expect(billableUnits('daily', d('2026-03-29T00:00:00Z'), d('2026-03-30T00:00:00Z'), BERLIN)).toBe(2);
  });
});

describe('billableUnits: monthly (calendar months in local time)', () => {
  it('one month across the Berlin DST change', () => {
    expect(billableUnits('monthly', d('2026-03-01T00:00:00+01:00'), d('2026-04-01T00:00:00+02:00'), BERLIN)).toBe(1);
  });

  it('Jan 31 + 1 month is Feb 28 (luxon clamps to the month end)', () => {
    expect(billableUnits('monthly', d('2026-01-31T00:00:00+01:00'), d('2026-02-28T00:00:00+01:00'), BERLIN)).toBe(1);
  });

  it('Jan 31 + 2 months is Mar 31', () => {
    expect(billableUnits('monthly', d('2026-01-31T00:00:00+01:00'), d('2026-03-31T00:00:00+02:00'), BERLIN)).toBe(2);
  });

  it('America/Santiago: a month from the day whose midnight is skipped (it starts at 01:00) to the next day start', () => {
    expect(billableUnits('monthly', d('2026-09-06T01:00:00-03:00'), d('2026-10-06T00:00:00-03:00'), 'America/Santiago')).toBe(1);
  });

  it('twelve months', () => {
    expect(billableUnits('monthly', d('2026-01-01T00:00:00+01:00'), d('2027-01-01T00:00:00+01:00'), BERLIN)).toBe(12);
  });

  it('a window that is not whole months bills every month it starts', () => {
    expect(billableUnits('monthly', d('2026-01-01T00:00:00+01:00'), d('2026-02-15T00:00:00+01:00'), BERLIN)).toBe(2);
  });
});

describe('billableUnits: refusals', () => {
  it('an empty or reversed window', () => {
    const t = d('2026-05-04T09:00:00Z');
    for (const end of [t, d('2026-05-04T08:00:00Z')]) {
      const e = caught(() => billableUnits('hourly', t, end, BERLIN));
      expect(e.code).toBe('invalid_booking_time');
      expect(e.details).toEqual([{ path: 'endsAt', message: 'must be after startsAt' }]);
    }
  });

  it('an unknown time zone', () => {
    const e = caught(() => billableUnits('daily', d('2026-05-04T00:00:00Z'), d('2026-05-05T00:00:00Z'), 'UTC+5'));
    expect(e.code).toBe('validation_error');
    expect((e.details as Array<{ path: string }>)[0]?.path).toBe('timezone');
  });

  it('an invalid date', () => {
    const e = caught(() => billableUnits('hourly', d('nonsense'), d('2026-05-05T00:00:00Z'), 'UTC'));
    expect(e.code).toBe('validation_error');
    expect(e.details).toEqual([{ path: 'startsAt', message: 'must be a valid date' }]);
  });
});

describe('taxOn: half-up rounding in integers', () => {
  it.each([
    [10_000, 0, 0],
    [12_345, 0, 0],
    [0, 1900, 0],
    [10_000, 1900, 1900],
    [4, 1000, 0], // 0.4 → 0
    [5, 1000, 1], // 0.5 → 1 (half up)
    [15, 1000, 2], // 1.5 → 2
    [25, 1000, 3], // 2.5 → 3 (not banker's rounding to 2)
    [50, 1900, 10], // 9.5 → 10
    [149, 1900, 28], // 28.31 → 28
    [1050, 1900, 200], // 199.5 → 200
    [1049, 1900, 199], // 199.31 → 199
    [1005, 50, 5], // 5.025 → 5
    [14_997, 1900, 2849], // 2849.43 → 2849
    [999, 10_000, 999], // 100 %
  ])('taxOn(%i, %i bps) = %i', (amount, bps, expected) => {
    expect(taxOn(amount, bps)).toBe(expected);
  });

  it('stays exact where amount × bps exceeds the safe integer range', () => {
    // 9007199254740991 × 1900 = 17113678584007882900; + 5000, / 10000 → 1711367858400788.79… → 1711367858400788
    expect(taxOn(Number.MAX_SAFE_INTEGER, 1900)).toBe(1_711_367_858_400_788);
  });

  it.each([
    [-1, 1900, 'amount'],
    [10.5, 1900, 'amount'],
    [100, -1, 'taxRateBps'],
    [100, 19.5, 'taxRateBps'],
    [Number.NaN, 1900, 'amount'],
  ])('refuses taxOn(%s, %s) on %s', (amount, bps, path) => {
    const e = caught(() => taxOn(amount, bps));
    expect(e.code).toBe('validation_error');
    expect((e.details as Array<{ path: string }>)[0]?.path).toBe(path);
  });
});

describe('quotePrice', () => {
  const hourly90 = {
    bookingType: 'hourly' as const,
    startsAt: d('2026-05-04T09:00:00+02:00'),
    endsAt: d('2026-05-04T10:30:00+02:00'),
    timezone: BERLIN,
    rates,
  };

  it('hourly 90 minutes at 19 % tax', () => {
    expect(quotePrice({ ...hourly90, taxRateBps: 1900 })).toEqual({
      units: 2,
      unitPrice: 1250,
      basePrice: 2500,
      discountAmount: 0,
      taxAmount: 475,
      totalPrice: 2975,
    });
  });

  it('hourly with no tax', () => {
    expect(quotePrice({ ...hourly90, taxRateBps: 0 })).toEqual({
      units: 2,
      unitPrice: 1250,
      basePrice: 2500,
      discountAmount: 0,
      taxAmount: 0,
      totalPrice: 2500,
    });
  });

  it('tax is computed after the discount and rounded half up', () => {
    // taxable 2499 × 0.19 = 474.81 → 475
    expect(quotePrice({ ...hourly90, taxRateBps: 1900, discountAmount: 1 })).toEqual({
      units: 2,
      unitPrice: 1250,
      basePrice: 2500,
      discountAmount: 1,
      taxAmount: 475,
      totalPrice: 2974,
    });
  });

  it('an exact half rounds up inside a quote', () => {
    // 2 × 25 = 50; 50 × 0.19 = 9.5 → 10
    const q = quotePrice({ ...hourly90, rates: { ...rates, hourlyRate: 25 }, taxRateBps: 1900 });
    expect(q).toEqual({ units: 2, unitPrice: 25, basePrice: 50, discountAmount: 0, taxAmount: 10, totalPrice: 60 });
  });

  it('a discount larger than the base is clamped to the base', () => {
    const q = quotePrice({ ...hourly90, taxRateBps: 1900, discountAmount: 3000 });
    expect(q).toEqual({ units: 2, unitPrice: 1250, basePrice: 2500, discountAmount: 2500, taxAmount: 0, totalPrice: 0 });
  });

  it('a negative discount is clamped to 0', () => {
    const q = quotePrice({ ...hourly90, taxRateBps: 1900, discountAmount: -100 });
    expect(q.discountAmount).toBe(0);
    expect(q.totalPrice).toBe(2975);
  });

  it('a fractional discount is refused', () => {
    const e = caught(() => quotePrice({ ...hourly90, taxRateBps: 1900, discountAmount: 0.5 }));
    expect(e.code).toBe('validation_error');
  });

  it('a fractional or negative rate is refused', () => {
    for (const hourlyRate of [12.5, -1]) {
      const e = caught(() => quotePrice({ ...hourly90, rates: { ...rates, hourlyRate }, taxRateBps: 0 }));
      expect(e.code).toBe('validation_error');
      expect((e.details as Array<{ path: string }>)[0]?.path).toBe('hourlyRate');
    }
  });

  it('daily: three days at 19 %', () => {
    const q = quotePrice({
      bookingType: 'daily',
      startsAt: d('2026-05-04T00:00:00+02:00'),
      endsAt: d('2026-05-07T00:00:00+02:00'),
      timezone: BERLIN,
      rates,
      taxRateBps: 1900,
    });
    // 3 × 4999 = 14997; × 0.19 = 2849.43 → 2849
    expect(q).toEqual({ units: 3, unitPrice: 4999, basePrice: 14_997, discountAmount: 0, taxAmount: 2849, totalPrice: 17_846 });
  });

  it('daily: the 25-hour Berlin day costs one day', () => {
    const q = quotePrice({
      bookingType: 'daily',
      startsAt: d('2026-10-24T22:00:00Z'),
      endsAt: d('2026-10-25T23:00:00Z'),
      timezone: BERLIN,
      rates,
      taxRateBps: 0,
    });
    expect(q).toEqual({ units: 1, unitPrice: 4999, basePrice: 4999, discountAmount: 0, taxAmount: 0, totalPrice: 4999 });
  });

  it('hourly across the New York DST jump is priced by real hours', () => {
    const q = quotePrice({
      bookingType: 'hourly',
      startsAt: d('2026-03-08T00:00:00-05:00'),
      endsAt: d('2026-03-08T04:00:00-04:00'),
      timezone: NEW_YORK,
      rates,
      taxRateBps: 0,
    });
    expect(q.units).toBe(3);
    expect(q.basePrice).toBe(3750);
    expect(q.totalPrice).toBe(3750);
  });

  it('monthly: Jan 31 → Feb 28 is one month at 10 %, with a discount', () => {
    const q = quotePrice({
      bookingType: 'monthly',
      startsAt: d('2026-01-31T00:00:00+01:00'),
      endsAt: d('2026-02-28T00:00:00+01:00'),
      timezone: BERLIN,
      rates,
      taxRateBps: 1000,
      discountAmount: 10_005,
    });
    // taxable 139995 × 0.10 = 13999.5 → 14000
    expect(q).toEqual({
      units: 1,
      unitPrice: 150_000,
      basePrice: 150_000,
      discountAmount: 10_005,
      taxAmount: 14_000,
      totalPrice: 153_995,
    });
  });

  it('returns only integers', () => {
    const q = quotePrice({ ...hourly90, taxRateBps: 1234, discountAmount: 7 });
    for (const v of Object.values(q)) expect(Number.isInteger(v)).toBe(true);
    // 2493 × 0.1234 = 307.6362 → 308
    expect(q.taxAmount).toBe(308);
    expect(q.totalPrice).toBe(2801);
  });
});
