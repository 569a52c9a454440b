import type { JobsOptions, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config.js';
import { QUEUE_NAMES } from './catalogue.js';
import { CorkedQueue } from './corked-writes.js';

export type Queues = { [K in keyof typeof QUEUE_NAMES]: Queue };

/**
 * Defaults for every command job: transient faults retry with exponential backoff; domain refusals fail at
 * once (UnrecoverableError). Finished jobs are trimmed by age and count: the inbox keeps answering for them.
 */
export function commandJobOptions(q: AppConfig['queue']): JobsOptions {
  return {
    attempts: q.attempts,
    backoff: { type: 'exponential', delay: q.backoffMs },
    removeOnComplete: { age: q.keepCompleted.age, count: q.keepCompleted.count },
    removeOnFail: { age: q.keepFailed.age, count: q.keepFailed.count },
  };
}

/**
 * How a worker hands on the jobs of a worker that died: once a job's lock lapses (WORKER_LOCK_DURATION_MS) the next
 * stalled-job check (WORKER_STALLED_INTERVAL_MS) gives it to another worker. Re-running is always safe (the inbox and
 * the notification records dedupe), so a job is never given up on just because its workers kept dying.
 */
export function redeliveryOptions(q: AppConfig['queue']) {
  return { lockDuration: q.lockDurationMs, stalledInterval: q.stalledIntervalMs, maxStalledCount: 10 };
}

export function createQueues(connection: Redis, q: AppConfig['queue'], onError: (err: Error) => void = () => {}): Queues {
  const defaultJobOptions = commandJobOptions(q);
  const make = (name: string) => {
    const queue: Queue = new CorkedQueue(name, { connection, prefix: q.prefix, defaultJobOptions });
    // Connection errors surface on each call (→ 503 in the API); the listener keeps them from being printed raw.
    queue.on('error', onError);
    return queue;
  };
  return {
    commands: make(QUEUE_NAMES.commands),
    notifications: make(QUEUE_NAMES.notifications),
    // Listed so Bull Board shows it; nothing consumes it (src/jobs/notification.worker.ts fills it).
    deadLetter: make(QUEUE_NAMES.deadLetter),
    maintenance: make(QUEUE_NAMES.maintenance),
  };
}

/**
 * Closes the queues made on `connection` (shared: closed by its owner). BullMQ's close first waits for the connection
 * to be ready, so one that is down is ended first: that ends the wait, where Redis down would hold the shutdown.
 */
export async function closeQueues(queues: Queues, connection: Redis): Promise<void> {
  if (connection.status !== 'ready') connection.disconnect();
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}

/**
 * Closes a worker: it stops taking jobs and waits for its active ones. With its Redis down that wait never ends
 * (BullMQ waits on its connection), and no job could be finished in Redis anyway: it then closes at once, and a job
 * it was running is redelivered once its lock lapses, which the inbox makes safe.
 */
export async function closeWorker(worker: Worker, connection: Redis): Promise<void> {
  await worker.close(connection.status !== 'ready');
}
