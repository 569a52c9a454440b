import type { Job } from 'bullmq';
import { ProcessedCommandSchema } from '../db/entities/index.js';
import type { CommandResult, JobError } from '../jobs/catalogue.js';
import { failureOf } from '../jobs/job-failure.js';
import type { AppDeps } from './context.js';
import { onePer } from '../one-per.js';
import { Batcher } from '../batch.js';
import { assertConnected } from '../redis.js';
import { findInboxRow, type InboxRow } from './lookups.js';
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
 * `code: message`, as the workers write refusals (failJob, src/jobs/job-failure.ts). Anything else is a fault whose raw text
 * (driver messages, SQL) stays in the server logs, not in what clients see.
 */
export function parseFailedReason(reason: string | undefined): JobError {
  return failureOf(reason) ?? { code: 'internal_error', message: 'The command hit an internal error; it is retried while attempts remain' };
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/**
 * The status of a command job. While BullMQ still has the job, its state is authoritative: BullMQ marks a job
 * completed only after the worker committed AND evicted caches, so "completed" here means every read is fresh.
 * Once BullMQ has trimmed the job, the inbox row answers (it is final by then). Refusal details come from the
 * inbox, which stores them structured.
 */
export async function readJob(deps: AppDeps, jobId: string): Promise<JobView | null> {
  assertConnected(deps.queues.commands.opts.connection);
  // State first, then the job's fields: a job that finishes in between then shows its final fields
  // (never a 'failed' state next to the attempt count and reason from before it failed).
  const state = STATE_OF[await deps.queues.commands.getJobState(jobId)];
  const job = state ? ((await deps.queues.commands.getJob(jobId)) as Job | undefined) : undefined;
  // The inbox row matters only for a job Redis no longer holds, a failed one (committed? its error) or a completed
  // one without its return value; a poll of a waiting, active or completed job needs no Postgres round trip.
  const needInbox = !job || !state || state === 'failed' || (state === 'completed' && job.returnvalue == null);
  const inbox = needInbox ? await deps.orm.em.fork().findOne(ProcessedCommandSchema, jobId) : null;

  if (job && state) {
    // Committed is committed: if every retry of its after-commit work failed (cache unreachable for a minute), the
    // job ends failed in BullMQ, but the change happened, and saying "failed" would invite a duplicate.
    const committed = state === 'failed' && inbox?.outcome === 'completed';
    const data = job.data as { actor?: { id?: string }; fingerprint?: string | null; requestedAt?: string };
    const status: JobStatusBody = {
      id: jobId,
      name: job.name,
      state: committed ? 'completed' : state,
      attemptsMade: job.attemptsMade,
      // When the API accepted it, as the inbox stores it: the same createdAt once only the inbox answers.
      createdAt: new Date(data.requestedAt ?? job.timestamp).toISOString(),
    };
    if (state === 'completed' || committed) status.result = (job.returnvalue ?? inbox?.result ?? {}) as CommandResult;
    if (state === 'failed' && !committed) status.error = (inbox?.error as JobError | undefined) ?? parseFailedReason(job.failedReason);
    if (state === 'delayed' && job.failedReason) status.error = parseFailedReason(job.failedReason);
    const finished = iso(job.finishedOn);
    if ((state === 'completed' || state === 'failed') && finished) status.finishedAt = finished;
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
  if (inbox.outcome === 'completed') status.result = (inbox.result ?? {}) as CommandResult;
  else status.error = (inbox.error as JobError | undefined) ?? { code: 'internal_error', message: 'Job failed' };
  return { status, ownerId: inbox.userId ?? null, fingerprint: inbox.fingerprint ?? null };
}

export const isFinished = (s: JobStatusBody) => s.state === 'completed' || s.state === 'failed';

/** What an Idempotency-Key finds already stored under its job id: the command's fingerprint, and where it was found. */
export interface Prior {
  /** The id it is stored under: the key's job id, or the one an earlier version gave the key (submit-command.ts). */
  jobId: string;
  fingerprint: string | null;
  /** Found in BullMQ (the job is still there, e.g. for `Prefer: wait`); false: found in the inbox only. */
  queued: boolean;
}

/** HGET of one field of many hashes (BullMQ's job hashes of one queue: keys of one slot, as BullMQ's own scripts). */
const HGET_MANY = `local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, ARGV[1]) end
return out`;

type WithHgetMany = AppDeps['redis'] & { hgetMany(numberOfKeys: number, ...keysThenField: string[]): Promise<(string | null)[]> };

/**
 * The `data` field of BullMQ job hashes read in the same event-loop turn, in one command (src/batch.ts). The script
 * is a defined command: ioredis sends it by its SHA1 (EVALSHA), and its text only when Redis does not know it yet.
 */
const jobDataBatcher = onePer((redis: AppDeps['redis']) => {
  const client = redis as WithHgetMany;
  if (typeof client.hgetMany !== 'function') client.defineCommand('hgetMany', { lua: HGET_MANY });
  return new Batcher<string, string | null>(async (keys) =>
    keys.length === 1 ? [await client.hget(keys[0]!, 'data')] : client.hgetMany(keys.length, ...keys, 'data'),
  );
});
const jobData = (redis: AppDeps['redis'], key: string) => jobDataBatcher(redis).load(key);

/**
 * The fingerprint of the command BullMQ holds under the first of these job ids it holds, or undefined when it holds
 * none: the job hash's `data` field (the key is the queue's own `toKey`), what getJob reads with HGETALL less the
 * fields nobody here needs and the Job built from them, on every keyed request (twice on a first one). Read on
 * `deps.redis`, the queues' Redis; with the reads of the other requests of the same event-loop turn (so a key's two
 * ids cost one round trip).
 */
export async function queuedFingerprint(deps: Pick<AppDeps, 'queues' | 'redis'>, jobIds: readonly string[]): Promise<{ jobId: string; fingerprint: string | null } | undefined> {
  const found = await Promise.all(jobIds.map((id) => jobData(deps.redis, deps.queues.commands.toKey(id))));
  const i = found.findIndex((data) => data != null);
  return i < 0 ? undefined : { jobId: jobIds[i]!, ...fingerprintOfJobData(found[i]!)! };
}

/** The fingerprint in a command job hash's `data` field (null: no job hash, so undefined). */
export function fingerprintOfJobData(data: string | null): { fingerprint: string | null } | undefined {
  if (data == null) return undefined;
  return { fingerprint: (JSON.parse(data) as { fingerprint?: string | null }).fingerprint ?? null };
}

/**
 * What an Idempotency-Key needs before enqueueing: the command already stored under one of the key's job ids
 * (submit-command.ts storedJobIds), its fingerprint and that id, or null when there is none. Looked up in readJob's
 * order, BullMQ first, then the inbox, which the worker writes before BullMQ can trim the job, so nothing slips
 * between the two reads; whoever reads the inbox in the same query
 * as something else (findBookableSpaceAndInbox) must still read it only after queuedFingerprint found nothing. A job
 * BullMQ holds in no state list (never seen in practice) counts as stored here; readJob would have added and read
 * it back, with the same answer.
 */
export async function readPrior(deps: Pick<AppDeps, 'queues' | 'redis' | 'orm'>, jobIds: readonly string[]): Promise<Prior | null> {
  const queued = await queuedFingerprint(deps, jobIds);
  return priorOf(queued, queued ? null : await findInboxRow(deps.orm, jobIds));
}

/** The Prior of what BullMQ holds (queuedFingerprint) and, when it holds nothing, of what the inbox holds. */
export function priorOf(queued: { jobId: string; fingerprint: string | null } | undefined, inbox: InboxRow | null): Prior | null {
  if (queued) return { ...queued, queued: true };
  return inbox ? { ...inbox, queued: false } : null;
}
