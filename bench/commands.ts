/**
 * Figure 1, command throughput: N booking.create commands (distinct slots, the payload the API would enqueue)
 * are added with addBulk while the queue is paused; the real worker process(es), already running, drain them
 * once it is resumed. The clock runs from resume to the moment no command is waiting, active or delayed.
 * Then the bench checks that the bookings table grew by exactly N rows and that no job failed.
 */
import { Queue } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { QUEUE_NAMES } from '../src/jobs/catalogue.js';
import { serviceJobOptions } from './baselines.js';
import { sleep } from './lib.js';
import type { BenchEnv, BenchUser, Slots } from './setup.js';
import { createCommand } from './setup.js';

export interface CreatedBooking {
  bookingId: string;
  userIndex: number;
}

const PENDING = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

export class CommandQueue {
  readonly queue: Queue;
  constructor(env: BenchEnv) {
    this.queue = new Queue(QUEUE_NAMES.commands, { connection: env.redis, prefix: env.prefix });
  }

  async pending(): Promise<number> {
    const counts = await this.queue.getJobCounts(...PENDING);
    return Object.values(counts).reduce((sum, v) => sum + v, 0);
  }

  async failed(): Promise<number> {
    return (await this.queue.getJobCounts('failed')).failed ?? 0;
  }

  close() {
    return this.queue.close();
  }
}

/**
 * Waits until a queue has nothing waiting, active or delayed: after a figure-1 run, for the notification jobs its
 * commands' events fanned out to, so their work does not spill into the next measurement.
 */
export async function waitIdle(env: BenchEnv, queueName: string, timeoutMs: number): Promise<void> {
  const queue = new Queue(queueName, { connection: env.redis, prefix: env.prefix });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = await queue.getJobCounts(...PENDING);
      if (Object.values(counts).every((v) => v === 0)) return;
      if (Date.now() > deadline) throw new Error(`queue ${queueName} still busy after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
      await sleep(20);
    }
  } finally {
    await queue.close();
  }
}

export async function countBookings(env: BenchEnv): Promise<number> {
  const r = await env.pool.query<{ n: string }>('select count(*)::text as n from bookings');
  return Number(r.rows[0]!.n);
}

/**
 * One drain of `n` commands. Returns commands/s; throws when a job failed or the bookings table did not grow
 * by exactly n (a benchmark that silently loses work is worthless).
 */
export async function drainCommands(
  env: BenchEnv,
  cq: CommandQueue,
  n: number,
  slots: Slots,
  users: BenchUser[],
  created: CreatedBooking[],
  timeoutMs: number,
): Promise<number> {
  const opts = serviceJobOptions();
  const before = await countBookings(env);
  const failedBefore = await cq.failed();
  await cq.queue.pause();
  const jobs = Array.from({ length: n }, (_, i) => {
    const userIndex = i % users.length;
    const cmd = createCommand(slots.next(), i, users[userIndex]!);
    created.push({ bookingId: cmd.data.bookingId, userIndex });
    return { name: 'booking.create', data: cmd.data, opts: { ...opts, jobId: cmd.jobId } };
  });
  for (let i = 0; i < jobs.length; i += 1000) await cq.queue.addBulk(jobs.slice(i, i + 1000));

  const t0 = performance.now();
  await cq.queue.resume();
  const deadline = Date.now() + timeoutMs;
  while ((await cq.pending()) > 0) {
    if (Date.now() > deadline) throw new Error(`figure 1: ${await cq.pending()} of ${n} commands still pending after ${timeoutMs} ms`);
    await sleep(10);
  }
  const t1 = performance.now();

  const failed = (await cq.failed()) - failedBefore;
  const grown = (await countBookings(env)) - before;
  if (failed !== 0 || grown !== n) {
    const sample = (await cq.queue.getFailed(0, 2)).map((j) => j.failedReason);
    throw new Error(`figure 1: expected ${n} new bookings, got ${grown}; ${failed} jobs failed ${JSON.stringify(sample)}`);
  }
  return (n * 1000) / (t1 - t0);
}
