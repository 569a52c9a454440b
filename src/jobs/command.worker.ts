import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import { GroupCommit } from '../commands/group-commit.js';
import { recordExhausted, type CommandHooks, type CommandOutcome } from '../commands/run-command.js';
import { failJob, isUnrecoverable, refusedDataMessage } from './job-failure.js';
import type { Logger } from '../logger.js';
import { QUEUE_NAMES, type CommandResult } from './catalogue.js';
import { announceFinished } from './finished-signal.js';
import { instrumented } from './instrument.js';
import { redeliveryOptions } from './queues.js';

export interface CommandWorkerDeps {
  orm: Orm;
  connection: Redis;
  config: AppConfig;
  logger: Logger;
  hooks?: CommandHooks;
  autorun?: boolean;
}

/**
 * The booking-commands worker: one BullMQ Worker for the queue, dispatching on job name through the command
 * runner. A refusal fails the job at once (UnrecoverableError, message `code: text`); anything else is thrown
 * to be retried with backoff. Each finished job is announced to the web processes (src/jobs/finished-signal.ts).
 */
export function createCommandWorker(deps: CommandWorkerDeps): Worker {
  const log = deps.logger.child({ queue: QUEUE_NAMES.commands });
  const runner = new GroupCommit(deps.orm, deps.hooks ?? {}, deps.config.queue.commandGroupMax, deps.config.queue.commandGroupsInFlight);
  const processor = async (job: Job, jobLog: Logger): Promise<CommandResult> => {
    const started = performance.now();
    let outcome: CommandOutcome;
    try {
      outcome = await runner.execute({ id: job.id!, name: job.name, data: job.data });
    } catch (err) {
      // Postgres refuses what the command would store (a payload the API would not have sent, a bug): failed at once,
      // where retries would only have repeated it for half a minute. Anything else is retried with backoff.
      const message = refusedDataMessage(err, "The command's data");
      if (message === undefined) throw err;
      jobLog.error({ err }, 'command failed: Postgres refused its data');
      await recordExhausted(deps.orm, { id: job.id!, name: job.name, data: job.data }, message);
      throw failJob('internal_error', message);
    }
    const ms = Math.round(performance.now() - started);
    if (outcome.outcome === 'failed') {
      jobLog.info({ code: outcome.error.code, ms, replayed: outcome.replayed }, 'command refused');
      throw failJob(outcome.error.code, outcome.error.message);
    }
    jobLog.debug({ ms, replayed: outcome.replayed }, 'command completed');
    return outcome.result;
  };
  const worker = new Worker(QUEUE_NAMES.commands, instrumented(QUEUE_NAMES.commands, log, processor), {
    connection: deps.connection,
    prefix: deps.config.queue.prefix,
    concurrency: deps.config.queue.commandConcurrency,
    autorun: deps.autorun ?? true,
    ...redeliveryOptions(deps.config.queue),
  });
  worker.on('failed', (job, err) => {
    if (!job || isUnrecoverable(err)) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1);
    log[final ? 'error' : 'warn']({ jobId: job.id, jobName: job.name, attemptsMade: job.attemptsMade, err }, final ? 'command failed for good' : 'command will be retried');
    if (final)
      recordExhausted(deps.orm, { id: job.id!, name: job.name, data: job.data }).catch((e: unknown) =>
        log.error({ err: e, jobId: job.id }, 'could not record the failed command in the inbox'),
      );
  });
  worker.on('error', (err) => log.error({ err }, 'worker error'));
  // What `Prefer: wait` waits on, wherever a command worker runs.
  announceFinished(worker, deps.connection, deps.config.queue.prefix, log);
  return worker;
}
