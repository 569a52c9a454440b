import type { Job } from 'bullmq';
import { failureOf, isUnrecoverable } from './job-failure.js';
import type { Logger } from '../logger.js';
import { jobDuration, jobOutcomes } from '../metrics.js';

export type JobOutcomeLabel = 'completed' | 'refused' | 'failed';

/**
 * Wraps a BullMQ processor so every attempt of every job is measured and logged in context, whatever its queue:
 * - the processor is given the job's logger (`log`, bound to `jobId` and `jobName`; workers' loggers bind `queue`):
 *   every line it writes about the job goes through it, or through a logger it hands down;
 * - `job_duration_seconds` and `jobs_total` by queue, job name and outcome: `completed`, `refused` (an
 *   UnrecoverableError: a domain refusal, not retried) or `failed` (anything else thrown; retried while attempts
 *   remain, so a job may count several failed attempts before it completes; an `internal_error` thrown as an
 *   UnrecoverableError, which is not retried, counts here too: it is no refusal).
 */
export function instrumented<R>(queue: string, log: Logger, processor: (job: Job, log: Logger) => Promise<R>): (job: Job) => Promise<R> {
  return async (job) => {
    const started = performance.now();
    let outcome: JobOutcomeLabel = 'failed';
    try {
      const result = await processor(job, log.child({ jobId: job.id, jobName: job.name }));
      outcome = 'completed';
      return result;
    } catch (err) {
      if (isUnrecoverable(err) && failureOf((err as Error).message)?.code !== 'internal_error') outcome = 'refused';
      throw err;
    } finally {
      const labels = { queue, name: job.name, outcome };
      jobOutcomes.inc(labels);
      jobDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
