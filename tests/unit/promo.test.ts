import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateDiscount, assertPromoUsable, normalizePromoCode, quotePrice, validateAttendees, type PromoTerms } from '../../src/domain/index.js';
import { caught, d } from '../helpers/domain.js';

const promo = (over: Partial<PromoTerms> = {}): PromoTerms => ({
  code: 'SPRING',
  discountType: 'percent',
  discountValue: 10,
  validFrom: d('2026-03-01T00:00:00Z'),
  validTo: d('2026-06-01T00:00:00Z'),
  maxUses: 5,
  usedCount: 0,
  active: true,
  ...over,
});

describe('assertPromoUsable', () => {
  it('accepts a code inside its window with uses left', () => {
    expect(() => assertPromoUsable(promo(), d('2026-04-01T00:00:00Z'))).not.toThrow();
    expect(() => assertPromoUsable(promo({ validFrom: null, validTo: null, maxUses: null }), d('2030-01-01T00:00:00Z'))).not.toThrow();
  });

  it('refuses an inactive code (promo_invalid), one outside [validFrom, validTo) (promo_expired), one used up (promo_exhausted)', () => {
    expect(caught(() => assertPromoUsable(promo({ active: false }), d('2026-04-01T00:00:00Z'))).code).toBe('promo_invalid');
    expect(caught(() => assertPromoUsable(promo(), d('2026-02-28T23:59:59Z'))).code).toBe('promo_expired');
    expect(() => assertPromoUsable(promo(), d('2026-03-01T00:00:00Z'))).not.toThrow();
    expect(caught(() => assertPromoUsable(promo(), d('2026-06-01T00:00:00Z'))).code).toBe('promo_expired');
    expect(caught(() => assertPromoUsable(promo({ usedCount: 5 }), d('2026-04-01T00:00:00Z'))).code).toBe('promo_exhausted');
  });

  it('normalizes codes to upper case', () => {
    expect(normalizePromoCode(' welcome10 ')).toBe('WELCOME10');
  });
});

describe('allocateDiscount', () => {
  it('percent: per line, rounded half up', () => {
    expect(allocateDiscount({ discountType: 'percent', discountValue: 10 }, [3000, 1505, 5])).toEqual([300, 151, 1]);
    expect(allocateDiscount({ discountType: 'percent', discountValue: 100 }, [3000, 0])).toEqual([3000, 0]);
  });

  it('fixed: split in proportion to the bases, remainders to the largest fractions, never more than the total', () => {
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 1000 }, [3000, 1000])).toEqual([750, 250]);
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 100 }, [1, 1, 1])).toEqual([1, 1, 1]);
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 100 }, [200, 100, 100])).toEqual([50, 25, 25]);
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 10 }, [100, 100, 100])).toEqual([4, 3, 3]);
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 2 }, [1, 1, 1])).toEqual([1, 1, 0]);
    expect(allocateDiscount({ discountType: 'fixed', discountValue: 500 }, [0, 0])).toEqual([0, 0]);
  });

  it('fixed: the parts add up to min(amount, total) and each stays within its base (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 50_000_000 }), (bases, amount) => {
        const parts = allocateDiscount({ discountType: 'fixed', discountValue: amount }, bases);
        const total = bases.reduce((s, b) => s + b, 0);
        expect(parts.reduce((s, p) => s + p, 0)).toBe(Math.min(amount, total));
        parts.forEach((p, i) => {
          expect(Number.isInteger(p)).toBe(true);
          expect(p).toBeGreaterThanOrEqual(0);
          expect(p).toBeLessThanOrEqual(bases[i]!);
        });
      }),
    );
  });

  it('goes through quotePrice: tax on the discounted price', () => {
    const [discount] = allocateDiscount({ discountType: 'percent', discountValue: 10 }, [3000]);
    const q = quotePrice({
      bookingType: 'hourly',
      startsAt: d('2026-05-04T09:00:00Z'),
      endsAt: d('2026-05-04T11:00:00Z'),
      timezone: 'UTC',
      rates: { hourlyRate: 1500, dailyRate: 0, monthlyRate: 0 },
      taxRateBps: 1900,
      discountAmount: discount!,
    });
    expect(q).toMatchObject({ basePrice: 3000, discountAmount: 300, taxAmount: 513, totalPrice: 3213 });
  });
});

describe('validateAttendees with guests (attendees + guests ≤ capacity)', () => {
  it('counts guests toward capacity and names guests when they tip it over', () => {
    expect(() => validateAttendees(2, 6, 4)).not.toThrow();
    const e = caught(() => validateAttendees(2, 6, 5));
    expect(e.code).toBe('capacity_exceeded');
    expect(e.details).toEqual([{ path: 'guests', message: expect.stringContaining('5 guests') }]);
    expect((caught(() => validateAttendees(7, 6, 0)).details as { path: string }[])[0]!.path).toBe('attendees');
    expect((caught(() => validateAttendees(0, 6, 1)).details as { path: string }[])[0]!.path).toBe('attendees');
  });
});
