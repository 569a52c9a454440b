import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { bookingDto, detailCodec, detailEntry, detailJson, pageBody, pageCodec, withUsageDays } from '../../src/api/serializers.js';
import { usageDays } from '../../src/domain/index.js';
import { d } from '../helpers/domain.js';

type Dto = ReturnType<typeof bookingDto>;
const dto = (startsAt: Date, endsAt: Date) => ({ id: 'b', startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(), status: 'confirmed' }) as unknown as Dto;

// Zones with DST at or near midnight (Santiago, Havana), half-hour DST (Lord Howe), odd offsets (Kathmandu, Chatham).
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Santiago', 'America/Havana', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Chatham', 'Asia/Kolkata'];
const HOUR = 3_600_000;

describe('withUsageDays (remembered per booking, zone and minute)', () => {
  it('adds the day counters to the DTO', () => {
    const out = withUsageDays(dto(d('2026-05-04T00:00:00+02:00'), d('2026-05-07T00:00:00+02:00')), 'Europe/Berlin', d('2026-05-05T12:00:00+02:00'));
    expect(out).toMatchObject({ id: 'b', status: 'confirmed', totalDays: 3, daysUsed: 2, daysRemaining: 1 });
  });

  it('answers exactly what the domain computes, on first sight and from memory, also around local midnights and DST changes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2032, 0, 1) }),
        fc.integer({ min: 0, max: 40 * 24 }),
        fc.integer({ min: -3, max: 45 }),
        fc.constantFrom(-60_001, -1, 0, 1, 59_999, 60_000, 7 * HOUR),
        (zone, startMs, hours, dayOffset, delta) => {
          const startsAt = new Date(Math.floor(startMs / (15 * 60_000)) * 15 * 60_000);
          const endsAt = new Date(startsAt.getTime() + hours * HOUR);
          // Now: a local midnight some days after the start, nudged across it (and across minute boundaries).
          const midnight = DateTime.fromJSDate(startsAt, { zone }).plus({ days: dayOffset }).startOf('day').toMillis();
          const b = dto(startsAt, endsAt);
          for (const nowMs of [midnight + delta, midnight + delta, midnight - 1, midnight, midnight + delta]) {
            const now = new Date(nowMs);
            const { totalDays, daysUsed, daysRemaining } = withUsageDays(b, zone, now);
            expect({ totalDays, daysUsed, daysRemaining }).toEqual(usageDays({ startsAt, endsAt, timezone: zone, now }));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('still refuses what the domain refuses', () => {
    expect(() => withUsageDays(dto(d('2026-05-04T00:00:00Z'), d('2026-05-05T00:00:00Z')), 'Not/A_Zone', new Date())).toThrow(/time zone/);
  });
});

describe('the cached detail (detailEntry, detailCodec, detailJson)', () => {
  const full = (over: Partial<Dto> = {}): Dto => ({
    ...dto(d('2026-05-04T08:00:00Z'), d('2026-05-06T17:00:00Z')),
    workspaceId: 'w', spaceId: 's', userId: 'u-1', bookingType: 'daily', attendees: 2,
    notes: 'line one\nline "two"\u2028 and \\ more', basePrice: 100, discountAmount: 0, taxAmount: 19, totalPrice: 119,
    currency: 'EUR', checkedInAt: null, checkedOutAt: null, cancelledAt: null, cancellationReason: null, noShow: false,
    version: 3, createdAt: '2026-05-01T00:00:00.000Z', updatedAt: '2026-05-01T00:00:00.000Z', ...over,
  });
  const guests = [{ id: 'g1', name: 'Ann\nLee', email: null }, { id: 'g2', name: 'Bo', email: 'bo@example.com' }];
  const now = d('2026-05-05T12:00:00Z');
  const reference = (b: Dto, g: typeof guests, zone: string) => JSON.stringify({ ...withUsageDays(b, zone, now), guests: g });

  it('answers the bytes the detail route sent before: the DTO, the day counters, the guests', () => {
    for (const [b, g, zone] of [[full(), guests, 'Europe/Berlin'], [full({ notes: null }), [], 'Asia/Kathmandu']] as const) {
      const body = detailJson(detailEntry(b, [...g], zone), now);
      expect(body).toBe(reference(b, [...g], zone));
      expect(JSON.parse(body)).toMatchObject({ notes: b.notes, totalDays: 3, daysUsed: 2, daysRemaining: 1 });
    }
  });

  it('comes back from the cache as it went in, newlines in notes and names included', () => {
    const entry = detailEntry(full(), guests, 'Europe/Berlin');
    const text = detailCodec.encode(entry);
    expect(detailCodec.decode(Buffer.from(text))).toEqual(entry);
    expect(detailJson(detailCodec.decode(Buffer.from(text)), now)).toBe(reference(full(), guests, 'Europe/Berlin'));
  });

  it('reads what the release before stored ({booking, guests, timezone}), and refuses what it cannot read', () => {
    const old = JSON.stringify({ booking: full(), guests, timezone: 'Europe/Berlin' });
    expect(detailJson(detailCodec.decode(Buffer.from(old)), now)).toBe(reference(full(), guests, 'Europe/Berlin'));
    expect(() => detailCodec.decode(Buffer.from('detail1\nu-1\nUTC'))).toThrow(/unreadable/);
    expect(() => detailCodec.decode(Buffer.from('garbage'))).toThrow(/unreadable/);
    // Not JSON: the release before fails to parse it and reads Postgres instead of misreading it.
    expect(() => JSON.parse(String(detailCodec.encode(detailEntry(full(), guests, 'UTC'))))).toThrow();
  });
});

describe('the cached list page (pageBody, pageCodec)', () => {
  const items = [{ id: 'a', notes: 'x\ny "q" — ü' }, { id: 'b', notes: null }];
  const stored = (v: string | Buffer) => Buffer.from(v); // what Redis hands back

  it('is the bytes of JSON.stringify({ items, page, pageSize, total }), and a hit answers them as they came', () => {
    const body = pageBody(items, 3, 20, 42);
    expect(body.toString()).toBe(JSON.stringify({ items, page: 3, pageSize: 20, total: 42 }));
    expect(pageBody([], 1, 20, 0).toString()).toBe('{"items":[],"page":1,"pageSize":20,"total":0}');
    expect(pageCodec.decode(stored(pageCodec.encode(body))).equals(body)).toBe(true);
  });

  it('refuses what it cannot read (the cache then answers from Postgres)', () => {
    for (const bad of ['', '[]', '\n[]', '3\n{"items":[]}', '{"items":[', JSON.stringify([JSON.stringify(items), 2])])
      expect(() => pageCodec.decode(stored(bad)), bad).toThrow(/unreadable/);
  });
});
