/**
 * Figures 2 and 4 through autocannon against the real web process:
 *   2. POST /api/v1/booking/bookings with a member's JWT, a unique Idempotency-Key and a distinct slot per request.
 *   4. GET /api/v1/booking/bookings/:id (detail read) and GET /api/v1/booking/bookings (list read, first page);
 *      the detail read also with a separate open-loop writer (PATCH notes) and its cache hit ratio per run.
 */
import { randomUUID } from 'node:crypto';
import type { CreatedBooking } from './commands.js';
import { load, type LoadResult } from './lib.js';
import { assertNoFailures, openLoop, type CompletionWatch, type LoadClient } from './open-loop.js';
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

/** The i-th booking of the set (in turn), as its owner: the path and headers of its detail read or a write to it. */
export function ownBooking(users: BenchUser[], bookings: CreatedBooking[], i: number) {
  const b = bookings[i % bookings.length]!;
  return { path: `/api/v1/booking/bookings/${b.bookingId}`, headers: { authorization: `Bearer ${users[b.userIndex]!.token}` } };
}

/** A member's first page of their bookings: the path and headers of a list read. */
export const ownList = (user: BenchUser) => ({ path: '/api/v1/booking/bookings', headers: { authorization: `Bearer ${user.token}` } });

/** Figure 4's detail read at 50 connections, in the load client: each booking of the set in turn, as its owner. */
export function detailRead(client: LoadClient, base: string, users: BenchUser[], bookings: CreatedBooking[], connections: number, durationS: number): Promise<LoadResult> {
  return client.reads({ url: base, connections, durationS, gets: bookings.map((_, i) => ownBooking(users, bookings, i)) });
}

export interface MixedRun {
  reads: LoadResult;
  /** cache_requests_total{keyspace="booking"} hits ÷ lookups on the API during this run, in %. */
  hitRatio: number;
  /** Writes sent, each answered 202 and its job completed (0 without writes). */
  writesSent: number;
  /** Writes whose eviction the workers counted while the reads ran, per second of reads (0 without writes). */
  writesApplied: number;
}

/**
 * Figure 4's detail read, and with `writeRate` > 0 at the same time a separate open-loop writer: PATCH notes (a
 * booking.update, allowed on these pending bookings) of a random booking of the set as its owner, a new text each
 * time. A run counts only if every write answered 202, its job completed and the workers' `cache_evictions_total`
 * (kind booking: one per update) moved by at least as many: otherwise the hit ratio would be a read-only one.
 */
export async function detailReadWithWrites(o: {
  api: string;
  /** The worker processes' HEALTH_PORT bases, whose /metrics count the evictions. */
  workers: string[];
  users: BenchUser[];
  bookings: CreatedBooking[];
  connections: number;
  durationS: number;
  writeRate: number;
  watch: CompletionWatch;
  /** Runs the reads (bench/load-client.ts); the writer runs in this process. */
  client: LoadClient;
}): Promise<MixedRun> {
  const [cache0, ev0] = await Promise.all([cacheCounters(o.api), bookingEvictions(o.workers)]);
  const writer = o.writeRate > 0
    ? openLoop({
        url: o.api,
        rate: o.writeRate,
        durationMs: o.durationS * 1000,
        watch: o.watch,
        request: (i) => ({
          ...ownBooking(o.users, o.bookings, Math.floor(Math.random() * o.bookings.length)),
          method: 'PATCH',
          body: JSON.stringify({ notes: `bench write ${i} at ${Date.now()}` }),
        }),
      })
    : undefined;
  const [{ reads, evAtEnd }, w] = await Promise.all([
    detailRead(o.client, o.api, o.users, o.bookings, o.connections, o.durationS).then(async (reads) => ({ reads, evAtEnd: await bookingEvictions(o.workers) })),
    writer, // resolves once every write's job completed or failed
  ]);
  const [cache1, ev1] = await Promise.all([cacheCounters(o.api), bookingEvictions(o.workers)]);
  if (w) {
    assertNoFailures('figure 4 writes', [w]);
    if (w.sent === 0 || w.completed.length !== w.sent) throw new Error(`figure 4 writes: ${w.sent} sent, ${w.completed.length} jobs completed`);
    if (ev1 - ev0 < w.sent) throw new Error(`figure 4 writes: ${w.sent} update jobs completed but the workers counted ${ev1 - ev0} booking evictions`);
  }
  const ratio = hitRatio(cache0, cache1, 'booking');
  if (!Number.isFinite(ratio)) throw new Error(`figure 4: no booking cache lookups counted on ${o.api}/metrics`);
  return { reads, hitRatio: ratio, writesSent: w?.sent ?? 0, writesApplied: w ? (evAtEnd - ev0) / o.durationS : 0 };
}

/** Figure 4's list read at 50 connections, in the load client: each member's first page in turn. */
export function listRead(client: LoadClient, base: string, users: BenchUser[], connections: number, durationS: number): Promise<LoadResult> {
  return client.reads({ url: base, connections, durationS, gets: users.map(ownList) });
}

/**
 * Reads every booking of the set and every member's first list page once, as their owners, `concurrency` at a time
 * (untimed): the reads a figure then measures find the set cached, where a timed warm-up of a second or two reached
 * only part of it (at the uncached rate, a few hundred of 2000 bookings) and left the first measured runs missing.
 */
export async function readEach(base: string, users: BenchUser[], bookings: CreatedBooking[], concurrency = 20): Promise<void> {
  const paths = [
    ...bookings.map((_, i) => ownBooking(users, bookings, i)),
    ...users.map(ownList),
  ];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const { path, headers } = paths[next++]!;
        const res = await fetch(`${base}${path}`, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`warming ${path}: ${res.status}`);
      }
    }),
  );
}

/** The samples of one counter on a process's /metrics: [labels, value]. Throws when /metrics does not answer. */
async function counter(base: string, name: string): Promise<[string, number][]> {
  const res = await fetch(`${base}/metrics`);
  if (!res.ok) throw new Error(`${base}/metrics → ${res.status}`);
  const text = await res.text();
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+(?:\\.\\d+)?)`, 'gm'))].map((m) => [m[1]!, Number(m[2])]);
}

/** `cache_requests_total` of a web process by keyspace and result, from its /metrics (empty when it has none). */
export async function cacheCounters(base: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    for (const [labels, value] of await counter(base, 'cache_requests_total')) {
      const keyspace = labels.match(/keyspace="([^"]*)"/)?.[1] ?? '?';
      const result = labels.match(/result="([^"]*)"/)?.[1] ?? '?';
      out.set(`${keyspace}/${result}`, value);
    }
  } catch {
    /* no metrics: no hit ratio */
  }
  return out;
}

/** Booking detail keys the workers evicted so far (`cache_evictions_total{kind="booking"}`, on their HEALTH_PORT). */
export async function bookingEvictions(workers: string[]): Promise<number> {
  const per = await Promise.all(workers.map((w) => counter(w, 'cache_evictions_total')));
  return per.flat().reduce((s, [labels, v]) => s + (labels.includes('kind="booking"') ? v : 0), 0);
}

/** Hit ratio of one keyspace between two cacheCounters() snapshots, in % (NaN without lookups). */
export function hitRatio(before: Map<string, number>, after: Map<string, number>, keyspace: string): number {
  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const total = [...after.keys()].filter((k) => k.startsWith(`${keyspace}/`)).reduce((s, k) => s + delta(k), 0);
  return total > 0 ? (100 * delta(`${keyspace}/hit`)) / total : NaN;
}

/** Hit ratio per keyspace between two cacheCounters() snapshots, e.g. `booking 99.8%, bookings 97.1%`. */
export function hitRatios(before: Map<string, number>, after: Map<string, number>): string {
  const keyspaces = new Set([...after.keys()].map((k) => k.split('/')[0]!));
  const parts: string[] = [];
  for (const ks of keyspaces) {
    const r = hitRatio(before, after, ks);
    if (Number.isFinite(r)) parts.push(`${ks} ${r.toFixed(1)}%`);
  }
  return parts.join(', ');
}
