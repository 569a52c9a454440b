import type { Queue } from 'bullmq';
import type { Context } from 'hono';
import { hash, randomUUID } from 'node:crypto';
import { DomainError } from '../domain/errors.js';
import type { CommandName, CommandPayload } from '../jobs/catalogue.js';
import { onePer } from '../one-per.js';
import { corked, sendAdd } from '../jobs/corked-writes.js';
import { Batcher } from '../batch.js';
import type { FinishWatcher } from '../jobs/finished-signal.js';
import type { AppDeps, AppEnv } from './context.js';
import { fingerprintOfJobData, isFinished, readJob, readPrior, type Prior } from './job-status.js';
import { fenceUnconfirmedAdd, type InboxPayload } from '../commands/run-command.js';
import { assertConnected, mayHaveReachedRedis } from '../redis.js';
import { API_PREFIX } from './paths.js';

/** One-shot `crypto.hash`: a keyed create hashes three times, and createHash() builds a Hash object each time. */
const sha256 = (s: string) => hash('sha256', s, 'hex');

/**
 * JSON with sorted keys, so the same body always has the same fingerprint. Fingerprints are stored (job data, inbox),
 * so the output must never change: it is the one of `[…].map(stableJson).join(',')` and of the object's defined
 * entries sorted by key, `"key":value` joined by ',' (built here in one pass, without the intermediate arrays).
 */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (stableJson(value[i]) ?? '');
    return `${out}]`;
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    let out = '{';
    for (const key of keys) {
      const v = record[key];
      if (v === undefined) continue;
      out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${stableJson(v)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/** A UUID (version 8 layout) derived from a hash: the same Idempotency-Key always names the same booking. */
function uuidFromHash(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '8';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

export interface CommandIdentity {
  jobId: string;
  /** Set when the request carried an Idempotency-Key. */
  key?: string;
  /**
   * The job id the key had before keyed job ids were UUIDs (`idem-` and 40 hex digits). Its job, or the inbox row
   * stored under it, answers a replay of the key, as any replay: a key first sent to an earlier version is kept.
   */
  legacyJobId?: string;
  /** A UUID for a resource the command creates: random, or derived from the key so a replay names the same one. */
  newId: string;
}

/** The ids a keyed command may already be stored under: its job id, then the one an earlier version gave the key. */
export const storedJobIds = (identity: CommandIdentity): string[] => (identity.legacyJobId ? [identity.jobId, identity.legacyJobId] : [identity.jobId]);

/**
 * The identity of a command sent with an Idempotency-Key: job and resource ids derived from user + key (BullMQ
 * then refuses a second job with that id), UUIDs in the version-8 layout, as every id the service hands out is a
 * UUID. The job id's 128 bits are the first of the digest the legacy id shows 160 of.
 */
export function keyedIdentity(userId: string, key: string): Required<CommandIdentity> {
  const digest = sha256(`${userId}\u0000${key}`);
  return { jobId: uuidFromHash(digest), key, legacyJobId: `idem-${digest.slice(0, 40)}`, newId: uuidFromHash(sha256(`booking\u0000${digest}`)) };
}

/**
 * The job id of a command: with an Idempotency-Key, derived from user + key (keyedIdentity); without, random.
 * Ids never contain ':' (BullMQ reserves it).
 */
export function commandIdentity(c: Context<AppEnv>): CommandIdentity {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return { jobId: randomUUID(), newId: randomUUID() };
  if (!/^[\x21-\x7e]{1,200}$/.test(key))
    throw new DomainError('validation_error', 'Invalid Idempotency-Key', [
      { path: 'headers.idempotency-key', message: '1–200 printable ASCII characters without spaces' },
    ]);
  return keyedIdentity(c.get('user').id, key);
}

/**
 * The command's identity and, for a keyed request, what its key already holds (readPrior; undefined without a key),
 * looked up before the route's own checks. For the commands that remove what their route checks (a deleted booking,
 * a removed cart item): the replay of such a command that ran must answer its job, as any replay does, where the
 * check would now answer 404. A replay skips those checks; they ran when its command was accepted.
 */
export async function identityAndPrior(c: Context<AppEnv>, deps: AppDeps): Promise<{ identity: CommandIdentity; prior: Prior | null | undefined }> {
  const identity = commandIdentity(c);
  return { identity, prior: identity.key ? await readPrior(deps, storedJobIds(identity)) : undefined };
}

/** `Prefer: wait=N` in seconds, capped by config; 0 when absent. */
function preferWait(c: Context<AppEnv>, max: number): number {
  const m = c.req.header('prefer')?.match(/(?:^|[,;\s])wait\s*=\s*(\d+)/i);
  return m?.[1] ? Math.min(Number(m[1]), max) : 0;
}

type Enqueued = { name: string; data: object; jobId: string; readBack: boolean };

/**
 * Adds command jobs as queue.add does and reads back, right after each add that asks, the `data` BullMQ then holds
 * under the id (queuedFingerprint's read, for a keyed command: a concurrent same-key request may have added first).
 * Commands of one connection run in order, so the read sees the add; all of them leave in one socket write.
 */
async function addWithReadBack(queue: Queue, jobs: Enqueued[]): Promise<(string | null)[]> {
  assertConnected(queue.opts.connection);
  const client = await queue.backend.client;
  const replies = corked(client, () =>
    jobs.flatMap(({ name, data, jobId, readBack }) => [
      sendAdd(queue, client, name, data, { jobId }).id,
      readBack ? client.hget(queue.toKey(jobId), 'data') : null,
    ]),
  );
  const settled = await Promise.all(replies);
  return jobs.map((_, i) => settled[2 * i + 1] ?? null);
}

/**
 * addWithReadBack, with the adds of the other requests of the same event-loop turn: one socket write for all of
 * them (src/batch.ts). When a batch fails, each add runs again alone; an add the failed batch had made is then a
 * duplicate id, left alone.
 */
const adder = onePer((queue: Queue) => new Batcher<Enqueued, string | null>((jobs) => addWithReadBack(queue, jobs)));

type Fields<N extends CommandName> = Omit<CommandPayload<N>, 'actor' | 'requestedAt' | 'fingerprint'>;

/** What an Idempotency-Key's replay must match: the command's name and fields, key order aside. */
const commandFingerprint = (name: CommandName, fields: object) => sha256(stableJson({ name, fields }));

/**
 * The job's status once it finished, or as it stands when `ms` ran out: read again at each signal (a signal may be
 * for an attempt that will be retried) and once at the timeout (a signal lost in a reconnect costs only the wait).
 */
async function waitForFinish(deps: AppDeps, jobId: string, watcher: FinishWatcher | undefined, ms: number, readFirst: boolean) {
  const deadline = performance.now() + ms;
  let view = readFirst || !watcher ? await readJob(deps, jobId) : undefined;
  while (watcher && !(view && isFinished(view.status))) {
    const left = deadline - performance.now();
    const signalled = left > 0 && (await watcher.next(left));
    view = await readJob(deps, jobId);
    if (!signalled) break;
  }
  return view;
}

/**
 * Enqueues a booking command and answers 202 {jobId, statusUrl, …}, or 200 with the job's status when
 * `Prefer: wait=N` is given and the job finishes in time. With an Idempotency-Key the same user + key + body
 * returns the same job (also after BullMQ trimmed it: the inbox remembers); another body is 422. `prior` is what
 * readPrior would answer, when the route has looked it up already (in readPrior's order); undefined: looked up here.
 */
export async function submitCommand<N extends CommandName>(
  c: Context<AppEnv>,
  deps: AppDeps,
  name: N,
  fields: Fields<N>,
  identity: CommandIdentity = commandIdentity(c),
  extra: Record<string, string> = {},
  prior?: Prior | null,
): Promise<Response> {
  const user = c.get('user');
  const fingerprint = identity.key ? commandFingerprint(name, fields) : null;
  let { jobId } = identity;
  let statusUrl = `${API_PREFIX}/jobs/${jobId}`;
  const wait = preferWait(c, deps.config.http.preferWaitMaxSeconds);

  // Watching starts before the job is added or looked up, so its finish is not missed (src/jobs/finished-signal.ts).
  let watcher = wait > 0 ? deps.finished?.watch(jobId) : undefined;
  try {
    // A fresh job's finish comes after its add, as a signal the watcher keeps: only a replay's job is read before
    // waiting, as it may have finished long ago. (A same-key request that added and finished between our lookup and
    // our add is the one case left to the timeout's read: a wait, never a wrong answer.)
    let replay = false;
    if (identity.key && prior === undefined) prior = await readPrior(deps, storedJobIds(identity));
    if (identity.key && prior) {
      if (prior.fingerprint !== fingerprint)
        throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with a different request');
      // A replay: the same job (still in Redis) or its stored outcome (trimmed from Redis, kept in the inbox), under
      // the id it was stored under (the legacy one, for a key first sent to an earlier version). The watch moves to
      // it before the replay's first read, so its finish is not missed either.
      replay = true;
      if (prior.jobId !== jobId) {
        jobId = prior.jobId;
        statusUrl = `${API_PREFIX}/jobs/${jobId}`;
        watcher?.stop();
        watcher = wait > 0 ? deps.finished?.watch(jobId) : undefined;
      }
    } else {
      const payload = { ...fields, actor: { id: user.id, role: user.role }, requestedAt: new Date().toISOString(), fingerprint };
      // A concurrent request with the same key may have added first: BullMQ kept that job and ignored ours, so
      // a keyed add reads back what is stored.
      let data: string | null;
      try {
        data = await adder(deps.queues.commands).load({ name, data: payload, jobId, readBack: identity.key !== undefined });
      } catch (e) {
        // A keyed client retries with its key and finds whatever happened; an unkeyed one cannot, so its command is
        // fenced before it is told 503 (or, if it got there and ran first, accepted after all).
        if (identity.key || !mayHaveReachedRedis(e)) throw e;
        if (!(await fenceOrUnknown(deps, name, payload, jobId, statusUrl))) return accepted(c, jobId, statusUrl, extra);
        throw new DomainError('service_unavailable', 'Redis did not confirm the command was queued; it was not applied and will not be: retry shortly', { jobId, statusUrl });
      }
      if (identity.key) {
        const stored = fingerprintOfJobData(data);
        if (stored && stored.fingerprint !== fingerprint)
          throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with a different request');
      }
    }

    if (wait > 0) {
      const view = await waitForFinish(deps, jobId, watcher, wait * 1000, replay);
      if (view && isFinished(view.status)) {
        c.header('Preference-Applied', `wait=${wait}`);
        return c.json(view.status, 200);
      }
    }
  } finally {
    watcher?.stop();
  }
  return accepted(c, jobId, statusUrl, extra);
}

function accepted(c: Context<AppEnv>, jobId: string, statusUrl: string, extra: Record<string, string>): Response {
  c.header('Location', statusUrl);
  return c.json({ jobId, statusUrl, ...extra }, 202);
}

/**
 * fenceUnconfirmedAdd for an add that failed: true when fenced (a 503: retrying is safe), false when the command was
 * there first. When Postgres cannot take the fence either, the outcome is unknown until the job's status answers.
 * Either 503 names the job.
 */
async function fenceOrUnknown(deps: AppDeps, name: string, payload: InboxPayload, jobId: string, statusUrl: string) {
  try {
    return await fenceUnconfirmedAdd(deps.orm, { id: jobId, name }, payload);
  } catch {
    throw new DomainError('service_unavailable', 'Redis did not confirm the command was queued, and whether it runs is unknown: its status will tell', { jobId, statusUrl });
  }
}
