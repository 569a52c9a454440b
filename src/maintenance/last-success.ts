import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * When each maintenance job last succeeded, in one Redis hash (field = job name, value = ISO time), so any process
 * can tell a stalled scheduler: the web process's /metrics and the scheduler's /readyz read it.
 * The key is `<QUEUE_PREFIX>:sweeps:last-success`, outside BullMQ's `<prefix>:<queue>:*` keyspace (a job id or an
 * obliterate of the maintenance queue must never touch it), and it has no TTL: it is tiny and must outlive restarts.
 */
export const lastSuccessKey = (prefix: string) => `${prefix}:sweeps:last-success`;

export async function recordLastSuccess(redis: Redis, prefix: string, name: string, at: Date): Promise<void> {
  await redis.hset(lastSuccessKey(prefix), name, at.toISOString());
}

export async function readLastSuccesses(redis: Redis, prefix: string): Promise<Record<string, Date>> {
  const raw = await redis.hgetall(lastSuccessKey(prefix));
  const out: Record<string, Date> = {};
  for (const [name, iso] of Object.entries(raw)) {
    const at = new Date(iso);
    if (!Number.isNaN(at.getTime())) out[name] = at;
  }
  return out;
}

export interface SweepFreshness {
  name: string;
  everyMs: number;
  lastSuccess: string | null;
  stale: boolean;
}

/**
 * Every job scheduler on the maintenance queue with a fixed interval (whoever registered it), judged stale when its
 * job has not succeeded within `staleFactor` × its interval. A scheduler that never succeeded is judged from
 * `since` (the start of the process asking), so a fresh deploy is not stale before its first runs were due.
 */
export async function sweepFreshness(
  maintenance: Queue,
  redis: Redis,
  prefix: string,
  opts: { staleFactor: number; now: Date; since: Date },
): Promise<SweepFreshness[]> {
  const [schedulers, last] = await Promise.all([maintenance.getJobSchedulers(0, -1, true), readLastSuccesses(redis, prefix)]);
  return schedulers
    .filter((s) => typeof s.every === 'number' && s.every > 0)
    .map((s) => {
      const everyMs = s.every!;
      const lastSuccess = last[s.name] ?? null;
      const reference = lastSuccess ?? opts.since;
      return {
        name: s.name,
        everyMs,
        lastSuccess: lastSuccess?.toISOString() ?? null,
        stale: opts.now.getTime() - reference.getTime() > opts.staleFactor * everyMs,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}
