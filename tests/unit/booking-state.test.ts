import { describe, it, expect } from 'vitest';
import {
  BOOKING_ACTIONS,
  BOOKING_STATUSES,
  CHECK_IN_EARLY_MINUTES,
  DomainError,
  assertDeletable,
  assertEditable,
  decideTransition,
  type BookingAction,
  type BookingSnapshot,
  type BookingStatus,
} from '../../src/domain/index.js';
import { caught, d } from '../helpers/domain.js';

const START = new Date('2026-05-04T09:00:00.000Z');
const END = new Date('2026-05-04T17:00:00.000Z');
const min = (n: number) => n * 60_000;
const at = (base: Date, deltaMs: number) => new Date(base.getTime() + deltaMs);

const BEFORE = at(START, -min(60 * 24)); // a day before the start
const DURING = at(START, min(60));
const AFTER = at(END, min(1));

const booking = (status: BookingStatus): BookingSnapshot => ({ status, startsAt: START, endsAt: END });


describe('decideTransition: allowed transitions', () => {
  it('confirm: pending → confirmed before the start', () => {
    expect(decideTransition(booking('pending'), 'confirm', BEFORE)).toEqual({
      from: 'pending',
      to: 'confirmed',
      noShow: false,
    });
  });

  it('confirm: allowed one millisecond before the start', () => {
    expect(decideTransition(booking('pending'), 'confirm', at(START, -1)).to).toBe('confirmed');
  });

  it.each(['pending', 'confirmed'] as const)('cancel: %s → cancelled with the given reason', (status) => {
    expect(decideTransition(booking(status), 'cancel', DURING, { reason: 'plans changed' })).toEqual({
      from: status,
      to: 'cancelled',
      noShow: false,
      cancellationReason: 'plans changed',
    });
  });

  it('cancel without a reason leaves cancellationReason out', () => {
    const t = decideTransition(booking('confirmed'), 'cancel', BEFORE);
    expect(t).toEqual({ from: 'confirmed', to: 'cancelled', noShow: false });
    expect('cancellationReason' in t).toBe(false);
  });

  it('check_in: confirmed → active during the booking', () => {
    expect(decideTransition(booking('confirmed'), 'check_in', DURING)).toEqual({
      from: 'confirmed',
      to: 'active',
      noShow: false,
    });
  });

  it('check_out: active → completed, not a no-show, even before the end', () => {
    expect(decideTransition(booking('active'), 'check_out', DURING)).toEqual({
      from: 'active',
      to: 'completed',
      noShow: false,
    });
  });

  it.each([DURING, AFTER])('complete: active → completed at %s', (now) => {
    expect(decideTransition(booking('active'), 'complete', now)).toEqual({
      from: 'active',
      to: 'completed',
      noShow: false,
    });
  });

  it('complete: confirmed → completed as a no-show once ended (exactly at endsAt)', () => {
    expect(decideTransition(booking('confirmed'), 'complete', END)).toEqual({
      from: 'confirmed',
      to: 'completed',
      noShow: true,
    });
  });

  it('auto_complete: active past endsAt → completed, attended', () => {
    expect(decideTransition(booking('active'), 'auto_complete', END)).toEqual({
      from: 'active',
      to: 'completed',
      noShow: false,
    });
  });

  it('auto_complete: confirmed past endsAt → completed as a no-show', () => {
    expect(decideTransition(booking('confirmed'), 'auto_complete', AFTER)).toEqual({
      from: 'confirmed',
      to: 'completed',
      noShow: true,
    });
  });

  it('expire: pending at or after startsAt → cancelled with reason "expired"', () => {
    const expected = { from: 'pending', to: 'cancelled', noShow: false, cancellationReason: 'expired' };
    expect(decideTransition(booking('pending'), 'expire', START)).toEqual(expected);
    expect(decideTransition(booking('pending'), 'expire', AFTER)).toEqual(expected);
  });

  it('expire ignores a caller-supplied reason', () => {
    expect(decideTransition(booking('pending'), 'expire', AFTER, { reason: 'x' }).cancellationReason).toBe('expired');
  });
});

describe('decideTransition: check-in window', () => {
  const confirmed = booking('confirmed');

  it(`opens exactly ${CHECK_IN_EARLY_MINUTES} minutes before the start`, () => {
    expect(CHECK_IN_EARLY_MINUTES).toBe(15);
    expect(decideTransition(confirmed, 'check_in', at(START, -min(15))).to).toBe('active');
  });

  it('is allowed at the start and one millisecond before the end', () => {
    expect(decideTransition(confirmed, 'check_in', START).to).toBe('active');
    expect(decideTransition(confirmed, 'check_in', at(END, -1)).to).toBe('active');
  });

  it('is refused 16 minutes before the start', () => {
    const e = caught(() => decideTransition(confirmed, 'check_in', at(START, -min(16))));
    expect(e.code).toBe('invalid_transition');
    expect(e.details).toEqual({ from: 'confirmed', action: 'check_in' });
    expect(e.message).toMatch(/check in/);
    expect(e.message).toMatch(/confirmed/);
  });

  it('is refused one millisecond before the window opens', () => {
    const e = caught(() => decideTransition(confirmed, 'check_in', at(START, -min(15) - 1)));
    expect(e.code).toBe('invalid_transition');
  });

  it('is refused exactly at endsAt and after', () => {
    for (const now of [END, AFTER]) {
      const e = caught(() => decideTransition(confirmed, 'check_in', now));
      expect(e.code).toBe('invalid_transition');
      expect(e.details).toEqual({ from: 'confirmed', action: 'check_in' });
    }
  });
});

describe('decideTransition: time-dependent refusals', () => {
  const cases: Array<[BookingStatus, BookingAction, Date, string]> = [
    ['pending', 'confirm', START, 'confirm at the start (should expire instead)'],
    ['pending', 'confirm', AFTER, 'confirm after the end'],
    ['confirmed', 'complete', DURING, 'staff complete of an unattended booking before it ends'],
    ['confirmed', 'complete', at(END, -1), 'staff complete one ms before the end'],
    ['active', 'auto_complete', DURING, 'auto_complete of an active booking before its end'],
    ['confirmed', 'auto_complete', at(END, -1), 'auto_complete of a confirmed booking before its end'],
    ['pending', 'expire', at(START, -1), 'expire before the start'],
  ];
  it.each(cases)('%s + %s is refused (%s)', (status, action, now) => {
    const e = caught(() => decideTransition(booking(status), action, now));
    expect(e.code).toBe('invalid_transition');
    expect(e.details).toEqual({ from: status, action });
  });
});

describe('decideTransition: every structurally refused combination', () => {
  // Which statuses each action may start from; everything else is refused whatever the time.
  const allowedFrom: Record<BookingAction, BookingStatus[]> = {
    confirm: ['pending'],
    cancel: ['pending', 'confirmed'],
    check_in: ['confirmed'],
    check_out: ['active'],
    complete: ['active', 'confirmed'],
    auto_complete: ['active', 'confirmed'],
    expire: ['pending'],
  };
  const refused: Array<[BookingStatus, BookingAction]> = [];
  for (const action of BOOKING_ACTIONS) {
    for (const status of BOOKING_STATUSES) {
      if (!allowedFrom[action].includes(status)) refused.push([status, action]);
    }
  }

  it('covers the expected number of combinations', () => {
    expect(refused).toHaveLength(BOOKING_STATUSES.length * BOOKING_ACTIONS.length - 10);
    expect(refused).toHaveLength(25);
  });

  it.each(refused)('%s + %s → invalid_transition at any time', (status, action) => {
    for (const now of [BEFORE, DURING, AFTER]) {
      const e = caught(() => decideTransition(booking(status), action, now, { reason: 'r' }));
      expect(e.code).toBe('invalid_transition');
      expect(e.details).toEqual({ from: status, action });
      expect(e.message).toContain(status);
    }
  });

  it('names the action in human words', () => {
    const e = caught(() => decideTransition(booking('completed'), 'check_out', DURING));
    expect(e.message).toBe('Cannot check out a booking that is completed');
  });
});

describe('assertEditable / assertDeletable', () => {
  it.each(['pending', 'confirmed'] as const)('%s is editable', (status) => {
    expect(assertEditable(booking(status))).toBeUndefined();
  });

  it.each(['active', 'completed', 'cancelled'] as const)('%s is not editable', (status) => {
    const e = caught(() => assertEditable(booking(status)));
    expect(e.code).toBe('invalid_transition');
    expect(e.details).toEqual({ from: status, action: 'update' });
    expect(e.message).toContain(status);
  });

  it.each(['pending', 'cancelled'] as const)('%s is deletable', (status) => {
    expect(assertDeletable(booking(status))).toBeUndefined();
  });

  it.each(['confirmed', 'active', 'completed'] as const)('%s is not deletable', (status) => {
    const e = caught(() => assertDeletable(booking(status)));
    expect(e.code).toBe('invalid_transition');
    expect(e.details).toEqual({ from: status, action: 'delete' });
    expect(e.message).toContain(status);
  });
});
