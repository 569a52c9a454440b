/**
 * Prices in integer minor units (cents). Units are counted in the workspace's time zone, so a booking costs what
 * its local calendar says (a 23-hour DST day is still one day) while hourly bookings pay for real elapsed time.
 */
import { DomainError } from './errors.js';
import { assertDates, assertTimeZone, localDaysTouched, monthsToCover } from './calendar.js';

export const BOOKING_TYPES = ['hourly', 'daily', 'monthly'] as const;
export type BookingType = (typeof BOOKING_TYPES)[number];

/** Integer minor units per unit of each booking type. */
export interface Rates {
  hourlyRate: number;
  dailyRate: number;
  monthlyRate: number;
}

export interface PriceQuote {
  units: number;
  unitPrice: number;
  basePrice: number;
  discountAmount: number;
  taxAmount: number;
  totalPrice: number;
}

const MS_PER_HOUR = 3_600_000;

function assertMoney(value: number, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    const message = `${path} must be a non-negative integer amount in minor units`;
    throw new DomainError('validation_error', message, [{ path, message }]);
  }
}

/**
 * How many units of `bookingType` the window [startsAt, endsAt) bills:
 * - hourly: started hours of real elapsed time (90 min → 2; a window across a DST jump counts the real hours);
 * - daily: local calendar days in `timezone` touched by the window;
 * - monthly: calendar months in local time, i.e. N with start.plus({ months: N }) == end (luxon clamps
 *   Jan 31 + 1 month to Feb 28); a window that is not a whole number of months bills the months it starts.
 * An empty or reversed window is refused rather than priced at zero.
 */
export function billableUnits(bookingType: BookingType, startsAt: Date, endsAt: Date, timezone: string): number {
  assertTimeZone(timezone);
  assertDates(startsAt, endsAt);
  if (endsAt.getTime() <= startsAt.getTime()) {
    throw new DomainError('invalid_booking_time', 'Booking must end after it starts', [
      { path: 'endsAt', message: 'must be after startsAt' },
    ]);
  }
  switch (bookingType) {
    case 'hourly':
      return Math.ceil((endsAt.getTime() - startsAt.getTime()) / MS_PER_HOUR);
    case 'daily':
      return localDaysTouched(startsAt, endsAt, timezone);
    case 'monthly':
      return monthsToCover(startsAt, endsAt, timezone).months;
  }
}

/**
 * Tax on `amount` at `taxRateBps` basis points (1900 = 19 %), rounded half up to a whole minor unit:
 * floor((amount × bps + 5000) / 10000), computed in BigInt so large amounts cannot lose precision to floats
 *. Both inputs must be non-negative integers, so "half up" is unambiguous.
 */
export function taxOn(amount: number, taxRateBps: number): number {
  assertMoney(amount, 'amount');
  if (!Number.isSafeInteger(taxRateBps) || taxRateBps < 0) {
    const message = 'taxRateBps must be a non-negative integer number of basis points';
    throw new DomainError('validation_error', message, [{ path: 'taxRateBps', message }]);
  }
  const tax = (BigInt(amount) * BigInt(taxRateBps) + 5000n) / 10000n; // BigInt division truncates: floor for ≥ 0
  const result = Number(tax);
  if (!Number.isSafeInteger(result)) {
    throw new DomainError('validation_error', 'Tax amount exceeds the safe integer range', [
      { path: 'taxRateBps', message: 'tax amount is too large' },
    ]);
  }
  return result;
}

/**
 * base = units × rate; discount clamped to [0, base] (a coupon never makes the price negative);
 * tax = taxOn(base − discount); total = base − discount + tax. All integers in minor units.
 */
export function quotePrice(input: {
  bookingType: BookingType;
  startsAt: Date;
  endsAt: Date;
  timezone: string;
  rates: Rates;
  taxRateBps: number;
  discountAmount?: number;
}): PriceQuote {
  const { bookingType, rates, taxRateBps } = input;
  const units = billableUnits(bookingType, input.startsAt, input.endsAt, input.timezone);
  const unitPrice =
    bookingType === 'hourly' ? rates.hourlyRate : bookingType === 'daily' ? rates.dailyRate : rates.monthlyRate;
  assertMoney(unitPrice, `${bookingType}Rate`);

  const basePrice = units * unitPrice;
  assertMoney(basePrice, 'basePrice');

  const requested = input.discountAmount ?? 0;
  if (!Number.isInteger(requested)) {
    const message = 'discountAmount must be an integer amount in minor units';
    throw new DomainError('validation_error', message, [{ path: 'discountAmount', message }]);
  }
  const discountAmount = Math.min(Math.max(requested, 0), basePrice);

  const taxable = basePrice - discountAmount;
  const taxAmount = taxOn(taxable, taxRateBps);
  const totalPrice = taxable + taxAmount;
  assertMoney(totalPrice, 'totalPrice');

  return { units, unitPrice, basePrice, discountAmount, taxAmount, totalPrice };
}
