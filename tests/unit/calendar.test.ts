import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { HourlyCachedZone, wallClock, wallClockMinute } from '../../src/domain/calendar.js';

// DST at or near midnight (Santiago, Havana), half-hour DST (Lord Howe), odd offsets (Kathmandu, Chatham), a zone
// that changed its standard offset (Pyongyang 2015/2018), and zones without DST.
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Santiago', 'America/Havana', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Chatham', 'Asia/Kolkata', 'Asia/Pyongyang', 'Africa/Casablanca'];
const HOUR = 3_600_000;
const MINUTE = 60_000;

/** The instants where luxon's own offset changes (never twice within a day), each to the millisecond. */
function transitions(zone: IANAZone, fromMs: number, toMs: number): number[] {
  const found: number[] = [];
  const DAY = 24 * HOUR;
  for (let t = fromMs; t < toMs; t += DAY) {
    if (zone.offset(t) === zone.offset(t + DAY)) continue;
    let [lo, hi] = [t, t + DAY];
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (zone.offset(mid) === zone.offset(t)) lo = mid;
      else hi = mid;
    }
    found.push(hi);
  }
  return found;
}

describe('HourlyCachedZone (offsets remembered per UTC hour)', () => {
  it("answers luxon's offset to the millisecond around every transition of 2014–2030, from memory as on first sight", () => {
    for (const name of ZONES) {
      const exact = IANAZone.create(name);
      const cached = new HourlyCachedZone(name);
      const edges = transitions(exact, Date.UTC(2014, 0, 1), Date.UTC(2030, 0, 1));
      if (name !== 'UTC' && name !== 'Asia/Kolkata' && name !== 'Asia/Kathmandu') expect(edges.length, name).toBeGreaterThan(0);
      for (const edge of edges) {
        for (const delta of [-HOUR, -30 * MINUTE, -MINUTE, -1, 0, 1, MINUTE, 30 * MINUTE, HOUR - 1, HOUR]) {
          // Twice: the second answer may come from memory.
          for (let i = 0; i < 2; i++) expect(cached.offset(edge + delta), `${name} ${new Date(edge + delta).toISOString()}`).toBe(exact.offset(edge + delta));
        }
      }
    }
  });

  it("answers luxon's offset for any instant, before 1973 (LMT seconds) and after", () => {
    const cached = new Map(ZONES.map((name) => [name, new HourlyCachedZone(name)]));
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1880, 0, 1), max: Date.UTC(2100, 0, 1) }), (name, ts) => {
        expect(cached.get(name)!.offset(ts)).toBe(IANAZone.create(name).offset(ts));
      }),
      { numRuns: 3000 },
    );
  });

  it('is as valid or invalid as the zone name', () => {
    expect(new HourlyCachedZone('Europe/Berlin').isValid).toBe(true);
    expect(new HourlyCachedZone('Not/AZone').isValid).toBe(false);
    expect(new HourlyCachedZone('Not/AZone').offset(Date.UTC(2026, 0, 1))).toBeNaN();
  });
});

describe('wallClockMinute (the zone clock to the minute, without a luxon DateTime)', () => {
  const luxon = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd HH:mm');

  it("reads as luxon's yyyy-MM-dd HH:mm around every transition of 2014–2030", () => {
    for (const name of ZONES) {
      for (const edge of transitions(IANAZone.create(name), Date.UTC(2014, 0, 1), Date.UTC(2030, 0, 1))) {
        for (const delta of [-HOUR, -MINUTE, -1, 0, 1, MINUTE, HOUR]) {
          const at = new Date(edge + delta);
          expect(wallClockMinute(at, name), `${name} ${at.toISOString()}`).toBe(luxon(edge + delta, name));
        }
      }
    }
  });

  it("reads as luxon's for any instant of 1973–2100", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1973, 0, 1), max: Date.UTC(2100, 0, 1) }), (name, ts) => {
        expect(wallClockMinute(new Date(ts), name)).toBe(luxon(ts, name));
      }),
      { numRuns: 3000 },
    );
  });

  it("has luxon's local fields, to the millisecond, for any instant of 1880–2100 (LMT offsets included)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1880, 0, 1), max: Date.UTC(2100, 0, 1) }), (name, ts) => {
        const l = DateTime.fromMillis(ts, { zone: name });
        const w = wallClock(new Date(ts), name)!;
        expect([w.getUTCFullYear(), w.getUTCMonth() + 1, w.getUTCDate(), w.getUTCHours(), w.getUTCMinutes(), w.getUTCSeconds(), w.getUTCMilliseconds()]).toEqual([
          l.year, l.month, l.day, l.hour, l.minute, l.second, l.millisecond,
        ]);
      }),
      { numRuns: 3000 },
    );
  });

  it('is undefined for a zone name luxon does not know, or an invalid date', () => {
    expect(wallClock(new Date(Date.UTC(2026, 0, 1)), 'Not/AZone')).toBeUndefined();
    expect(wallClockMinute(new Date(Date.UTC(2026, 0, 1)), 'Not/AZone')).toBeUndefined();
    expect(wallClockMinute(new Date('nonsense'), 'Europe/Berlin')).toBeUndefined();
    expect(wallClockMinute(new Date(Date.UTC(2026, 6, 1, 8, 30, 59)), 'Europe/Berlin')).toBe('2026-07-01 10:30');
  });
});
