/**
 * Baselines, measured in the same run on the same Postgres and Redis:
 *   B1 raw queue: addBulk N jobs, then a BullMQ Worker (concurrency 10) with a no-op processor drains them.
 *   B2 the same, each job running BEGIN; UPDATE one row; COMMIT with pg — one command, one transaction's ceiling.
 *   B3 raw HTTP (bench/baseline-server.ts GET /static), B4 raw enqueue over HTTP (POST /enqueue: one queue.add).
 *   B6 raw cached read over HTTP (GET /cached: one Redis GET), the ceiling of a read served from Redis.
 *   B5 raw command round trip at the steady load of figure 3 (POST /command → bare worker process → completed).
 *   B7 one round trip: what a lone query to Postgres or command to Redis costs the caller on this machine.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { commandJobOptions } from '../src/jobs/queues.js';
import { load, type LoadResult } from './lib.js';
import type { LoadClient } from './open-loop.js';
import type { BenchEnv, BenchUser, Slots } from './setup.js';
import { createCommand } from './setup.js';

/** Job options exactly as the service's producers set them (attempts, backoff, trimming by age and count). */
export function serviceJobOptions() {
  return commandJobOptions(loadConfig({}).queue);
}

async function addInChunks(queue: Queue, jobs: { name: string; data: unknown; opts: object }[]) {
  for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
}

/**
 * B1 (`withTransaction` false) or B2: jobs/s of one in-process Worker at concurrency 10 draining n jobs, and this
 * process's CPU time per job meanwhile (the worker side's cost).
 */
export async function rawQueue(
  env: BenchEnv,
  n: number,
  withTransaction: boolean,
  payloads: { slots: Slots; users: BenchUser[] },
): Promise<{ rate: number; cpuMs: number }> {
  const name = withTransaction ? 'bench-b2' : 'bench-b1';
  const queue = new Queue(name, { connection: env.redis, prefix: env.prefix });
  const opts = serviceJobOptions();
  // The same payloads as figure 1, so only the work per job differs.
  const jobs = Array.from({ length: n }, (_, i) => {
    const cmd = createCommand(payloads.slots.next(), i, payloads.users[i % payloads.users.length]!);
    return { name: 'booking.create', data: { ...cmd.data, row: i % 1000 }, opts: { ...opts, jobId: cmd.jobId } };
  });
  await addInChunks(queue, jobs);

  const processor = withTransaction
    ? async (job: Job) => {
        const client = await env.pool.connect();
        try {
          await client.query('BEGIN');
          await client.query('update bench_rows set n = n + 1, touched_at = now() where id = $1', [(job.data as { row: number }).row]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      }
    : async () => {};
  const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker(name, processor, { connection, prefix: env.prefix, concurrency: 10, autorun: false });
  let done = 0;
  let failed = 0;
  let finish!: (t: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  worker.on('completed', () => {
    if (++done + failed === n) finish(performance.now());
  });
  worker.on('failed', () => {
    if (done + ++failed === n) finish(performance.now());
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  void worker.run();
  const t1 = await finished;
  const cpu = process.cpuUsage(cpu0);
  await worker.close();
  connection.disconnect();
  await queue.obliterate({ force: true });
  await queue.close();
  if (failed) throw new Error(`${name}: ${failed} of ${n} jobs failed`);
  return { rate: (n * 1000) / (t1 - t0), cpuMs: (cpu.user + cpu.system) / 1000 / n };
}

/** B3: GET a static JSON document. */
export function rawHttp(client: LoadClient, base: string, connections: number, durationS: number): Promise<LoadResult> {
  return client.reads({ url: base, connections, durationS, gets: [{ path: '/static', headers: {} }] });
}

/** B6: GET a JSON document the route reads from Redis with one GET: the ceiling of any read served from Redis. */
export function rawCachedRead(client: LoadClient, base: string, connections: number, durationS: number): Promise<LoadResult> {
  return client.reads({ url: base, connections, durationS, gets: [{ path: '/cached', headers: {} }] });
}

/** B4: POST a create-booking body; the route parses it and does one queue.add. */
export async function rawEnqueue(env: BenchEnv, base: string, connections: number, durationS: number, body: () => string): Promise<LoadResult> {
  const result = await load({
    url: `${base}/enqueue`,
    connections,
    durationS,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({ ...req, headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() }, body: body() }),
      },
    ],
  });
  const queue = new Queue('bench-b4', { connection: env.redis, prefix: env.prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  return result;
}

/**
 * B7: `n` round trips one after the other (a parameterized `select` on one pooled pg client, a Redis PING), this
 * process's CPU and the wall time per round trip. At a light load every step of a command is such a lone round trip
 * (a batch shares one under load), so this is the unit its CPU and latency are made of here.
 */
export async function roundTrip(env: BenchEnv, n: number): Promise<{ pg: { cpuUs: number; wallUs: number }; redis: { cpuUs: number; wallUs: number } }> {
  const cpuUs = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const time = async (once: () => Promise<unknown>) => {
    for (let i = 0; i < 100; i++) await once();
    const [c0, t0] = [cpuUs(), performance.now()];
    for (let i = 0; i < n; i++) await once();
    return { cpuUs: (cpuUs() - c0) / n, wallUs: ((performance.now() - t0) * 1000) / n };
  };
  const client = await env.pool.connect();
  try {
    return { pg: await time(() => client.query('select $1::int as one', [1])), redis: await time(() => env.redis.ping()) };
  } finally {
    client.release();
  }
}
