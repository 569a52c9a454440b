import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { keyedIdentity, stableJson } from '../../src/api/submit-command.js';

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

/** A keyed command's ids as the first versions derived them: stored jobs, inbox rows and bookings carry them. */
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
function firstUuidFromHash(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '8';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('keyedIdentity (the ids an Idempotency-Key names)', () => {
  const key = fc.stringMatching(/^[\x21-\x7e]{1,200}$/);

  it('the job id is a version-8 UUID; the legacy job id and the new resource id are the ones earlier versions gave the key', () => {
    fc.assert(
      fc.property(fc.uuid(), key, (userId, k) => {
        const id = keyedIdentity(userId, k);
        const digest = sha256(`${userId}\u0000${k}`);
        expect(id.jobId).toMatch(UUID_V8);
        expect(id.jobId).toBe(firstUuidFromHash(digest));
        expect(id.legacyJobId).toBe(`idem-${digest.slice(0, 40)}`);
        expect(id.newId).toBe(firstUuidFromHash(sha256(`booking\u0000${digest}`)));
        expect(id.newId).not.toBe(id.jobId);
        expect(id.key).toBe(k);
      }),
    );
  });

  it('the same user and key always name the same ids; another user or key, others', () => {
    const a = keyedIdentity('6f1c2d3e-0000-4000-8000-000000000001', 'k-1');
    expect(keyedIdentity('6f1c2d3e-0000-4000-8000-000000000001', 'k-1')).toEqual(a);
    expect(keyedIdentity('6f1c2d3e-0000-4000-8000-000000000002', 'k-1').jobId).not.toBe(a.jobId);
    expect(keyedIdentity('6f1c2d3e-0000-4000-8000-000000000001', 'k-2').jobId).not.toBe(a.jobId);
  });
});
