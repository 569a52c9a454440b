import fc from 'fast-check';
import { IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { HourlyCachedZone } from '../../src/domain/calendar.js';

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
