import type { Job } from 'bullmq';
import { ProcessedCommandSchema } from '../db/entities/index.js';
import type { JobError } from '../jobs/catalogue.js';
import type { AppDeps } from './context.js';
import type { JobStatusBody } from './schemas.js';

export interface JobView {
  status: JobStatusBody;
  ownerId: string | null;
  fingerprint: string | null;
}

const STATE_OF: Record<string, JobStatusBody['state']> = {
  waiting: 'waiting',
  prioritized: 'waiting',
  'waiting-children': 'waiting',
  delayed: 'delayed',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

/**
 * `code: message`, as the worker writes refusals (UnrecoverableError). Anything else is a fault whose raw text
 * (driver messages, SQL) stays in the server logs, not in what clients see.
 */
export function parseFailedReason(reason: string | undefined): JobError {
  const m = reason?.match(/^([a-z_]+): (.*)$/s);
  return m?.[1] && m[2] !== undefined
    ? { code: m[1], message: m[2] }
    : { code: 'internal_error', message: 'The command hit an internal error; it is retried while attempts remain' };
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/**
 * The status of a command job. While BullMQ still has the job, its state is authoritative: BullMQ marks a job
 * completed only after the worker committed AND evicted caches, so "completed" here means every read is fresh.
 * Once BullMQ has trimmed the job, the inbox row answers (it is final by then). Refusal details come from the
 * inbox, which stores them structured.
 */
export async function readJob(deps: AppDeps, jobId: string): Promise<JobView | null> {
  // State first, then the job's fields: a job that finishes in between then shows its final fields
  // (never a 'failed' state next to the attempt count and reason from before it failed).
  const state = STATE_OF[await deps.queues.commands.getJobState(jobId)];
  const job = state ? ((await deps.queues.commands.getJob(jobId)) as Job | undefined) : undefined;
  const inbox = await deps.orm.em.fork().findOne(ProcessedCommandSchema, jobId);

  if (job && state) {
    // Committed is committed: if every retry of its after-commit work failed (cache unreachable for a minute), the
    // job ends failed in BullMQ, but the change happened, and saying "failed" would invite a duplicate.
    const committed = state === 'failed' && inbox?.outcome === 'completed';
    const status: JobStatusBody = {
      id: jobId,
      name: job.name,
      state: committed ? 'completed' : state,
      attemptsMade: job.attemptsMade,
      createdAt: new Date(job.timestamp).toISOString(),
    };
    if (state === 'completed' || committed) status.result = (job.returnvalue ?? inbox?.result ?? {}) as Record<string, unknown>;
    if (state === 'failed' && !committed) status.error = inbox?.error ?? parseFailedReason(job.failedReason);
    if (state === 'delayed' && job.failedReason) status.error = parseFailedReason(job.failedReason);
    const finished = iso(job.finishedOn);
    if ((state === 'completed' || state === 'failed') && finished) status.finishedAt = finished;
    const data = job.data as { actor?: { id?: string }; fingerprint?: string | null };
    return { status, ownerId: data.actor?.id ?? inbox?.userId ?? null, fingerprint: data.fingerprint ?? null };
  }
  if (!inbox) return null;
  const status: JobStatusBody = {
    id: jobId,
    name: inbox.name,
    state: inbox.outcome,
    createdAt: inbox.requestedAt.toISOString(),
    finishedAt: inbox.processedAt.toISOString(),
  };
  if (inbox.outcome === 'completed') status.result = inbox.result ?? {};
  else status.error = inbox.error ?? { code: 'internal_error', message: 'Job failed' };
  return { status, ownerId: inbox.userId ?? null, fingerprint: inbox.fingerprint ?? null };
}

export const isFinished = (s: JobStatusBody) => s.state === 'completed' || s.state === 'failed';

/**
 * What an Idempotency-Key needs before enqueueing: the fingerprint of the command already stored under this job id,
 * and the BullMQ job while BullMQ holds it (for `Prefer: wait`); null when there is none. Looked up in readJob's
 * order (BullMQ first, then the inbox, which the worker writes before BullMQ can trim the job, so nothing slips
 * between the two reads), at less cost on every keyed request: one HGETALL instead of the state script (plus
 * HGETALL when the job exists), and the inbox's fingerprint column instead of an ORM entity. A job BullMQ holds in
 * no state list (never seen in practice) counts as stored here; readJob would have added and read it back, with the
 * same answer.
 */
export async function readPrior(deps: AppDeps, jobId: string): Promise<{ fingerprint: string | null; job?: Job } | null> {
  const job = (await deps.queues.commands.getJob(jobId)) as Job | undefined;
  if (job) return { fingerprint: (job.data as { fingerprint?: string | null }).fingerprint ?? null, job };
  const row = (await deps.orm.em.getConnection().execute('select fingerprint from processed_commands where id = ?', [jobId], 'get')) as
    | { fingerprint: string | null }
    | undefined;
  return row ? { fingerprint: row.fingerprint ?? null } : null;
}
