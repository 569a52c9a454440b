import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { Batcher } from '../batch.js';
import type { Logger } from '../logger.js';
import { QUEUE_NAMES } from './catalogue.js';
import { closeRedis } from '../redis.js';

/**
 * "This command job has finished (or failed an attempt)": the signal `Prefer: wait` waits for. A Redis pub/sub
 * channel, not BullMQ's QueueEvents: QueueEvents makes every web process read the queue's whole event stream (about
 * three wake-ups per command, waited for or not, measured in docs/performance-log.md), where this costs one message per
 * finished batch of jobs. The signal only says "look again": the job's state in Redis stays the truth, so a lost
 * signal (a reconnect) costs a waiter its timeout, never a wrong answer.
 */
export const finishedChannel = (prefix: string) => `${prefix}:${QUEUE_NAMES.commands}:finished`;

/** Job ids never contain spaces (ours are UUIDs, or `idem-<hex>` from earlier versions), so one message can carry several. */
const SEPARATOR = ' ';

/**
 * Publishes the ids of the commands a worker finished, those of one event-loop turn in one message (under load a
 * group commit finishes many at once). BullMQ emits 'completed' after the job's state changed in Redis, so a waiter
 * that reads the state on this signal sees it. 'failed' covers an attempt to be retried too: the waiter reads the
 * state and keeps waiting.
 */
export function announceFinished(worker: Worker, redis: Redis, prefix: string, logger: Logger): void {
  const channel = finishedChannel(prefix);
  const publisher = new Batcher<string, void>(async (ids) => {
    await redis.publish(channel, ids.join(SEPARATOR));
    return ids.map(() => undefined);
  });
  const announce = (id: string | undefined) => {
    if (id === undefined) return;
    publisher.load(id).catch((err: unknown) => logger.warn({ err, jobId: id }, 'could not announce a finished command'));
  };
  worker.on('completed', (job) => announce(job.id));
  worker.on('failed', (job) => announce(job?.id));
}

/** One request's wait for one job: signals that arrive while nobody is waiting are kept for the next `next`. */
export interface FinishWatcher {
  /** Resolves true at the next signal for the job (or at once if one came since the last call), false after `ms`. */
  next(ms: number): Promise<boolean>;
  stop(): void;
}

/** The web's end: one subscriber connection, and the requests waiting on each job id. */
export class FinishedSignals {
  private readonly channel: string;
  private readonly watchers = new Map<string, Set<(finished?: boolean) => void>>();
  private released = false;

  /** `subscriber` becomes a subscriber connection: give it one of its own. */
  constructor(
    private readonly subscriber: Redis,
    prefix: string,
  ) {
    this.channel = finishedChannel(prefix);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      for (const id of message.split(SEPARATOR)) this.watchers.get(id)?.forEach((signal) => signal());
    });
  }

  /** Subscribes (again after a reconnect: ioredis re-subscribes by itself). Resolves once Redis confirmed it. */
  async start(): Promise<void> {
    await this.subscriber.subscribe(this.channel);
  }

  /** Start watching before the job is added or looked up: a signal sent from then on is not missed. */
  watch(jobId: string): FinishWatcher {
    let pending = false;
    let wake: ((signalled: boolean) => void) | undefined;
    const signal = (finished = true) => {
      if (wake) wake(finished);
      else if (finished) pending = true;
    };
    let set = this.watchers.get(jobId);
    if (!set) this.watchers.set(jobId, (set = new Set()));
    set.add(signal);
    return {
      next: (ms) => {
        if (this.released) return Promise.resolve(false);
        if (pending) {
          pending = false;
          return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            wake = undefined;
            resolve(false);
          }, ms);
          wake = (signalled) => {
            clearTimeout(timer);
            wake = undefined;
            resolve(signalled);
          };
        });
      },
      stop: () => {
        wake?.(false);
        set.delete(signal);
        if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
      },
    };
  }

  /** Requests waiting now (tests check that every wait let go of its watcher). */
  get waiting(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
  }

  /**
   * Ends every wait now and any wait from now on at once (each request then answers with the job as it stands: 202
   * if it has not finished). Shutting down, the HTTP server waits for the requests in flight, and a `Prefer: wait`
   * would otherwise hold it for up to its N seconds.
   */
  release(): void {
    this.released = true;
    for (const set of this.watchers.values()) for (const signal of set) signal(false);
  }

  async close(): Promise<void> {
    await closeRedis(this.subscriber);
  }
}
