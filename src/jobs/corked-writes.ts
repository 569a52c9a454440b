import { Job, Queue, type JobsOptions } from 'bullmq';
import type { Writable } from 'node:stream';

/** The Redis client BullMQ adds a queue's jobs with. */
export type QueueClient = Awaited<Queue['backend']['client']>;

/**
 * Runs `write`, which must send its Redis commands synchronously, with the client's socket corked: its commands
 * leave in one socket write, as an ioredis pipeline's would, and their replies come back in order.
 *
 * Not a pipeline: ioredis's `pipeline()` and `multi()` copy every script command the connection has defined onto the
 * new object (BullMQ defines 64 on the connections it is given), 44–66 µs of CPU each time: more than the commands
 * cost when a pipeline carries one or two of them, as a command's add in the API and its after-commit work do.
 */
export function corked<T>(client: unknown, write: () => T): T {
  const socket = (client as { stream?: Writable | null }).stream;
  socket?.cork();
  try {
    return write();
  } finally {
    socket?.uncork();
  }
}

/**
 * A job add as Queue#add makes it (the queue's default job options under the job's own), on `client` without
 * waiting: the command is sent synchronously, its promise answers the job's id (an id BullMQ already holds is left
 * alone, and answered).
 */
export function sendAdd(queue: Queue, client: QueueClient, name: string, data: unknown, opts: JobsOptions = {}): { job: Job; id: Promise<string> } {
  const job = new Job(queue, name, data, { ...queue.jobsOpts, ...opts, jobId: opts.jobId }, opts.jobId);
  return { job, id: job.addJob(client) };
}

/**
 * A BullMQ Queue whose addBulk sends its adds on the queue's own connection, corked (one write), instead of on a
 * pipeline built for the call: what Queue#addBulk does (Job.createBulk), without the pipeline's cost. Like addBulk,
 * it is not atomic, and it fails with the first add that fails.
 */
export class CorkedQueue extends Queue {
  override async addBulk(jobs: { name: string; data: unknown; opts?: JobsOptions }[]): Promise<Job[]> {
    if (!jobs.length) return [];
    const client = await this.backend.client;
    const sent = corked(client, () => jobs.map(({ name, data, opts }) => sendAdd(this, client, name, data, opts)));
    const ids = await Promise.all(sent.map((s) => s.id));
    return sent.map(({ job }, i) => Object.assign(job, { id: ids[i] }));
  }
}
