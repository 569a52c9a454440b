import { UnrecoverableError, type Job } from 'bullmq';
import { withLogContext } from '../logger.js';
import { jobDuration, jobOutcomes } from '../metrics.js';

export type JobOutcomeLabel = 'completed' | 'refused' | 'failed';

/**
 * Wraps a BullMQ processor so every attempt of every job is measured and logged in context, whatever its queue:
 * - every log line written while it runs carries `jobId` and `jobName` (src/logger.ts; workers' loggers bind `queue`);
 * - `job_duration_seconds` and `jobs_total` by queue, job name and outcome: `completed`, `refused` (an
 *   UnrecoverableError: a domain refusal, not retried) or `failed` (anything else thrown; retried while attempts
 *   remain, so a job may count several failed attempts before it completes).
 */
export function instrumented<R>(queue: string, processor: (job: Job) => Promise<R>): (job: Job) => Promise<R> {
  return (job) =>
    withLogContext({ jobId: job.id, jobName: job.name }, async () => {
      const started = performance.now();
      let outcome: JobOutcomeLabel = 'failed';
      try {
        const result = await processor(job);
        outcome = 'completed';
        return result;
      } catch (err) {
        if (err instanceof UnrecoverableError || (err as Error)?.name === 'UnrecoverableError') outcome = 'refused';
        throw err;
      } finally {
        const labels = { queue, name: job.name, outcome };
        jobOutcomes.inc(labels);
        jobDuration.observe(labels, (performance.now() - started) / 1000);
      }
    });
}
