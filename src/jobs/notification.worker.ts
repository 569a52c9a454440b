import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  createNotificationHandlers,
  type JobOutcome,
  type NotificationDeps,
  type NotificationHandler,
} from '../follow-ups/notification.handlers.js';
import {
  isNotificationJobName,
  notificationJobId,
  notificationJobSchemas,
  QUEUE_NAMES,
  type DeadLetter,
  type NotificationJobName,
} from './catalogue.js';
import type { Logger } from '../logger.js';
import { instrumented } from './instrument.js';
import { failJob, isUnrecoverable, refusedDataMessage } from './job-failure.js';
import { redeliveryOptions } from './queues.js';

export interface NotificationWorkerDeps extends NotificationDeps {
  connection: Redis;
  autorun?: boolean;
}


/** True on the job's last attempt: `attemptsMade` counts the attempts that already failed. */
export const isFinalAttempt = (job: Pick<Job, 'attemptsMade' | 'opts'>) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * The `notifications` worker: one BullMQ Worker for the queue (concurrency NOTIFICATION_CONCURRENCY), dispatching
 * on job name through a handler map the compiler checks. Payloads are re-parsed; a malformed one fails at once.
 * A job that fails for good (last attempt, or unrecoverable) is copied to `notifications-dead-letter` before it is
 * reported failed, so it stays visible in Bull Board after the failed set is trimmed.
 */
export function createNotificationWorker(deps: NotificationWorkerDeps): Worker {
  const log = deps.logger.child({ queue: QUEUE_NAMES.notifications });
  const handlers = createNotificationHandlers(deps);
  for (const name of Object.keys(notificationJobSchemas)) {
    if (typeof handlers[name as NotificationJobName] !== 'function') throw new Error(`No handler for notification job ${name}`);
  }

  async function deadLetter(job: Job, err: unknown, jobLog: Logger): Promise<void> {
    const letter: DeadLetter = {
      queue: QUEUE_NAMES.notifications,
      jobId: job.id!,
      name: job.name,
      data: job.data,
      failedReason: String((err as Error)?.message ?? err),
      attemptsMade: job.attemptsMade + 1,
      failedAt: new Date().toISOString(),
    };
    await deps.queues.deadLetter.add(job.name, letter, {
      jobId: notificationJobId.deadLetter(job.id!),
      attempts: 1,
      removeOnComplete: false,
      removeOnFail: false,
    });
    jobLog.error({ attemptsMade: letter.attemptsMade, err }, 'notification job failed for good; dead-lettered');
  }

  const processor = async (job: Job, jobLog: Logger): Promise<JobOutcome> => {
    const final = isFinalAttempt(job);
    try {
      if (!isNotificationJobName(job.name)) throw failJob('invalid_payload', `unknown notification job ${job.name}`);
      const parsed = notificationJobSchemas[job.name].safeParse(job.data);
      if (!parsed.success) throw failJob('invalid_payload', `malformed ${job.name} payload`);
      const handler = handlers[job.name] as NotificationHandler<NotificationJobName>;
      const outcome = await handler(parsed.data as never, { id: job.id!, final, log: jobLog });
      jobLog.debug(outcome, 'notification job done');
      return outcome;
    } catch (thrown) {
      // Data Postgres refuses (a payload only a bug or a hand-added job carries) fails at once, as a command's does.
      const refused = isUnrecoverable(thrown) ? undefined : refusedDataMessage(thrown, `The ${job.name} job's data`);
      const err = refused === undefined ? thrown : failJob('internal_error', refused);
      if (refused !== undefined) jobLog.error({ err: thrown }, 'notification job failed: Postgres refused its data');
      if (final || isUnrecoverable(err)) {
        // Best effort: a Redis outage here leaves the job in the failed set, still visible.
        await deadLetter(job, err, jobLog).catch((e: unknown) => jobLog.error({ err: e }, 'could not dead-letter a failed job'));
      } else {
        jobLog.warn({ attemptsMade: job.attemptsMade + 1, err: (err as Error)?.message }, 'notification job will be retried');
      }
      throw err;
    }
  };

  const worker = new Worker(QUEUE_NAMES.notifications, instrumented(QUEUE_NAMES.notifications, log, processor), {
    connection: deps.connection,
    prefix: deps.config.queue.prefix,
    concurrency: deps.config.queue.notificationConcurrency,
    autorun: deps.autorun ?? true,
    ...redeliveryOptions(deps.config.queue),
  });
  worker.on('error', (err) => log.error({ err }, 'notification worker error'));
  return worker;
}
