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
