/**
 * Promo codes, pure: whether a code may be used at a time, and how its discount splits over a checkout's lines.
 * The discount then goes through quotePrice's `discountAmount`, so tax is computed on the discounted price.
 * Counting a use is not here: it is a guarded UPDATE in the checkout's transaction (src/commands/cart.commands.ts).
 */
import { DomainError } from './errors.js';

export const PROMO_DISCOUNT_TYPES = ['percent', 'fixed'] as const;
export type PromoDiscountType = (typeof PROMO_DISCOUNT_TYPES)[number];

/** Codes are 3–32 characters of A–Z, 0–9, `_` and `-`, matched case-insensitively (stored upper-case). */
export const PROMO_CODE_PATTERN = /^[A-Za-z0-9_-]{3,32}$/;
export const normalizePromoCode = (code: string) => code.trim().toUpperCase();

export interface PromoTerms {
  code: string;
  discountType: PromoDiscountType;
  /** percent: 1–100; fixed: minor units, once per checkout. */
  discountValue: number;
  validFrom?: Date | null;
  validTo?: Date | null;
  maxUses?: number | null;
  usedCount: number;
  active: boolean;
}

/**
 * Refuses a code that cannot be used at `now`: inactive → `promo_invalid`; before `validFrom` or from `validTo` on
 * (the window is half-open, [validFrom, validTo)) → `promo_expired`; every use taken → `promo_exhausted`.
 * The use count read here is advisory: the guarded UPDATE decides under concurrency.
 */
export function assertPromoUsable(promo: PromoTerms, now: Date): void {
  if (!promo.active) throw new DomainError('promo_invalid', `Promo code ${promo.code} is not valid`, { code: promo.code });
  if (promo.validFrom && now.getTime() < promo.validFrom.getTime())
    throw new DomainError('promo_expired', `Promo code ${promo.code} is not valid before ${promo.validFrom.toISOString()}`, {
      code: promo.code,
      validFrom: promo.validFrom.toISOString(),
    });
  if (promo.validTo && now.getTime() >= promo.validTo.getTime())
    throw new DomainError('promo_expired', `Promo code ${promo.code} expired at ${promo.validTo.toISOString()}`, {
      code: promo.code,
      validTo: promo.validTo.toISOString(),
    });
  if (promo.maxUses != null && promo.usedCount >= promo.maxUses) throw exhausted(promo.code);
}

export const exhausted = (code: string) =>
  new DomainError('promo_exhausted', `Promo code ${code} has been used up`, { code });

/**
 * The discount of each line (by base price, integer minor units), never more than the line's base:
 * - percent: each line's base × percent / 100, rounded half up;
 * - fixed: the amount (capped at the sum of the bases) split in proportion to the bases, floored, and the
 *   remaining minor units given one each to the lines with the largest remainders (ties: earlier line first),
 *   so the parts always add up to the whole.
 */
export function allocateDiscount(promo: Pick<PromoTerms, 'discountType' | 'discountValue'>, bases: number[]): number[] {
  for (const b of bases) {
    if (!Number.isSafeInteger(b) || b < 0) throw new DomainError('validation_error', 'Base prices must be non-negative integers');
  }
  if (!Number.isSafeInteger(promo.discountValue) || promo.discountValue < 0)
    throw new DomainError('validation_error', 'A discount must be a non-negative integer');
  if (promo.discountType === 'percent') {
    const pct = BigInt(Math.min(promo.discountValue, 100));
    return bases.map((b) => Number((BigInt(b) * pct + 50n) / 100n));
  }
  const total = bases.reduce((s, b) => s + b, 0);
  const amount = Math.min(promo.discountValue, total);
  if (total === 0 || amount === 0) return bases.map(() => 0);
  const shares = bases.map((b, i) => {
    const exact = BigInt(amount) * BigInt(b);
    return { i, floor: Number(exact / BigInt(total)), remainder: exact % BigInt(total) };
  });
  let left = amount - shares.reduce((s, x) => s + x.floor, 0);
  const byRemainder = [...shares].sort((a, b) => (a.remainder === b.remainder ? a.i - b.i : a.remainder > b.remainder ? -1 : 1));
  const out = shares.map((s) => s.floor);
  for (const s of byRemainder) {
    if (left <= 0) break;
    if (out[s.i]! < bases[s.i]!) {
      out[s.i] = out[s.i]! + 1;
      left -= 1;
    }
  }
  return out;
}
