import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableJson } from '../../src/api/submit-command.js';

/** stableJson as it was first written: fingerprints stored in job data and the inbox were computed with it. */
function firstStableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(firstStableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${firstStableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('stableJson (the Idempotency-Key fingerprint)', () => {
  it('sorts keys at every depth and leaves out undefined entries', () => {
    expect(stableJson({ b: 1, a: { d: [1, { z: null, y: 'x' }], c: undefined } })).toBe('{"a":{"d":[1,{"y":"x","z":null}]},"b":1}');
    expect(stableJson([undefined, 1])).toBe('[,1]');
  });

  it('writes exactly what the first version wrote, for any value (stored fingerprints stay valid)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => stableJson(v) === firstStableJson(v)), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.anything({ withDate: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true }), (v) => stableJson(v) === firstStableJson(v)),
      { numRuns: 2000 },
    );
  });
});
