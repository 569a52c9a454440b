/**
 * Figures 2 and 4 through autocannon against the real web process:
 *   2. POST /api/v1/booking/bookings with a member's JWT, a unique Idempotency-Key and a distinct slot per request.
 *   4. GET /api/v1/booking/bookings/:id (detail read) and GET /api/v1/booking/bookings (list read, first page).
 */
import { randomUUID } from 'node:crypto';
import type { CreatedBooking } from './commands.js';
import { load, type LoadResult } from './lib.js';
import type { BenchUser, Slots } from './setup.js';
import { createBody } from './setup.js';

export function httpEnqueue(base: string, users: BenchUser[], slots: Slots, connections: number, durationS: number): Promise<LoadResult> {
  let i = 0;
  return load({
    url: `${base}/api/v1/booking/bookings`,
    connections,
    durationS,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const k = i++;
          const user = users[k % users.length]!;
          return {
            ...req,
            headers: {
              authorization: `Bearer ${user.token}`,
              'content-type': 'application/json',
              'idempotency-key': randomUUID(),
            },
            body: JSON.stringify(createBody(slots.next(), k)),
          };
        },
      },
    ],
  });
}

export function detailRead(base: string, users: BenchUser[], bookings: CreatedBooking[], connections: number, durationS: number): Promise<LoadResult> {
  let i = 0;
  return load({
    url: `${base}/api/v1/booking/bookings`,
    connections,
    durationS,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const b = bookings[i++ % bookings.length]!;
          return { ...req, path: `/api/v1/booking/bookings/${b.bookingId}`, headers: { authorization: `Bearer ${users[b.userIndex]!.token}` } };
        },
      },
    ],
  });
}

export function listRead(base: string, users: BenchUser[], connections: number, durationS: number): Promise<LoadResult> {
  let i = 0;
  return load({
    url: `${base}/api/v1/booking/bookings`,
    connections,
    durationS,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: '/api/v1/booking/bookings',
          headers: { authorization: `Bearer ${users[i++ % users.length]!.token}` },
        }),
      },
    ],
  });
}

/** `cache_requests_total` of a web process by keyspace and result, from its /metrics (empty when it has none). */
export async function cacheCounters(base: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const m of text.matchAll(/^cache_requests_total\{([^}]*)\} (\d+(?:\.\d+)?)/gm)) {
      const keyspace = m[1]!.match(/keyspace="([^"]*)"/)?.[1] ?? '?';
      const result = m[1]!.match(/result="([^"]*)"/)?.[1] ?? '?';
      out.set(`${keyspace}/${result}`, Number(m[2]));
    }
  } catch {
    /* no metrics: no hit ratio */
  }
  return out;
}

/** Hit ratio per keyspace between two cacheCounters() snapshots, e.g. `booking 99.8%, bookings-list 97.1%`. */
export function hitRatios(before: Map<string, number>, after: Map<string, number>): string {
  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const keyspaces = new Set([...after.keys()].map((k) => k.split('/')[0]!));
  const parts: string[] = [];
  for (const ks of keyspaces) {
    const hits = delta(`${ks}/hit`);
    const total = [...after.keys()].filter((k) => k.startsWith(`${ks}/`)).reduce((s, k) => s + delta(k), 0);
    if (total > 0) parts.push(`${ks} ${((100 * hits) / total).toFixed(1)}%`);
  }
  return parts.join(', ');
}
