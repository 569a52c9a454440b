/**
 * The bare baselines, run as child processes like the real service (never imports src/api):
 *   BENCH_ROLE=web     bare Hono on @hono/node-server:
 *                        GET  /static   static JSON                                         (B3)
 *                        POST /enqueue  parse the body, one queue.add                        (B4)
 *                        POST /command  one queue.add on the B5 queue; `Prefer: wait=N` waits
 *                                       for the job with QueueEvents                         (B5)
 *                        GET  /cached   one Redis GET of the same JSON document, sent as is (B6)
 *   BENCH_ROLE=worker  a bare BullMQ Worker on the B5 queue: BEGIN; UPDATE one row; COMMIT with pg (B5)
 * Env: PORT, REDIS_URL, DATABASE_URL, QUEUE_PREFIX, CONCURRENCY.
 */
import { serve } from '@hono/node-server';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

import { B4_QUEUE, B5_QUEUE } from './baseline-queues.js';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

/** Job options as the service's producers use them (trimmed by age and count). */
const jobOpts = { attempts: 8, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: { age: 86_400, count: 10_000 }, removeOnFail: { age: 604_800, count: 50_000 } };

/** Shaped like a booking detail, so B3 serializes about as much as a detail read. */
const STATIC = {
  id: '6f1c0d8e-2f4b-4a51-9b4e-1d2c3b4a5f60',
  workspaceId: '0b7d6c5e-4f3a-4b2c-8d1e-9f8a7b6c5d4e',
  spaceId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  userId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a',
  bookingType: 'hourly',
  startsAt: '2030-01-07T09:00:00.000Z',
  endsAt: '2030-01-07T11:00:00.000Z',
  status: 'pending',
  attendees: 3,
  notes: 'Quarterly planning with the design team',
  basePrice: 3000,
  discountAmount: 0,
  taxAmount: 570,
  totalPrice: 3570,
  currency: 'EUR',
  checkedInAt: null,
  checkedOutAt: null,
  cancelledAt: null,
  cancellationReason: null,
  noShow: false,
  version: 1,
  createdAt: '2029-12-01T10:00:00.000Z',
  updatedAt: '2029-12-01T10:00:00.000Z',
  totalDays: 1,
  daysUsed: 0,
  daysRemaining: 1,
};

const redisUrl = env('REDIS_URL');
const prefix = env('QUEUE_PREFIX');
const role = process.env.BENCH_ROLE ?? 'web';
const closers: (() => Promise<unknown>)[] = [];

if (role === 'web') {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await new Promise<void>((resolve) => connection.once('ready', () => resolve()));
  const b4 = new Queue(B4_QUEUE, { connection, prefix, defaultJobOptions: jobOpts });
  const b5 = new Queue(B5_QUEUE, { connection, prefix, defaultJobOptions: jobOpts });
  const events = new QueueEvents(B5_QUEUE, { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix });
  await events.waitUntilReady();

  const cachedKey = `${prefix}:bench:static`;
  await connection.set(cachedKey, JSON.stringify(STATIC));

  const app = new Hono();
  app.get('/static', (c) => c.json(STATIC));
  app.get('/cached', async (c) => c.body((await connection.get(cachedKey)) ?? 'null', 200, { 'content-type': 'application/json' }));
  app.post('/enqueue', async (c) => {
    const body = await c.req.json();
    const job = await b4.add('noop', body, { jobId: randomUUID() });
    return c.json({ jobId: job.id }, 202);
  });
  app.post('/command', async (c) => {
    const body = await c.req.json();
    const job = await b5.add('command', body, { jobId: randomUUID() });
    const wait = Number(c.req.header('prefer')?.match(/wait=(\d+)/)?.[1] ?? 0);
    if (wait > 0) {
      const result = await job.waitUntilFinished(events, wait * 1000).then(() => 'completed', () => 'failed');
      return c.json({ id: job.id, state: result }, 200);
    }
    return c.json({ jobId: job.id }, 202);
  });
  const server = serve({ fetch: app.fetch, port: Number(env('PORT')), hostname: '127.0.0.1' }, () => console.log('baseline web listening'));
  closers.push(() => new Promise<void>((r) => server.close(() => r())), () => events.close(), () => b4.close(), () => b5.close(), () => connection.quit());
} else {
  const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: Number(process.env.CONCURRENCY ?? 10) });
  const worker = new Worker(
    B5_QUEUE,
    async (job) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('update bench_rows set n = n + 1, touched_at = now() where id = $1', [(Number((job.data as { row?: number }).row) || 0) % 1000]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    },
    { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix, concurrency: Number(process.env.CONCURRENCY ?? 10) },
  );
  await worker.waitUntilReady();
  console.log('baseline worker started');
  closers.push(() => worker.close(), () => pool.end());
}

const stop = async () => {
  for (const close of closers) await close().catch(() => undefined);
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
