import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CommandHooks } from '../commands/run-command.js';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import { pruneOutbox, relayOutbox } from '../follow-ups/outbox.js';
import type { Logger } from '../logger.js';
import { CART_SWEEP_NAMES, isCartSweepName, runCartSweep } from '../maintenance/cart-sweeps.js';
import { recordLastSuccess } from '../maintenance/last-success.js';
import { runSweep, SWEEPS, type SweepName } from '../maintenance/sweeps.js';
import { analyzeStaleTables } from '../maintenance/table-stats.js';
import { sweepLastSuccess } from '../metrics.js';
import { QUEUE_NAMES } from './catalogue.js';
import { instrumented } from './instrument.js';

/** Outbox upkeep on the maintenance queue: the relay (every OUTBOX_RELAY_EVERY_MS) and pruning (OUTBOX_PRUNE_EVERY_MS). */
export const OUTBOX_JOBS = ['outbox.relay', 'outbox.prune'] as const;
export type OutboxJobName = (typeof OUTBOX_JOBS)[number];
const isOutboxJob = (name: string): name is OutboxJobName => (OUTBOX_JOBS as readonly string[]).includes(name);

/** Planner statistics of the tables autovacuum leaves alone (src/maintenance/table-stats.ts), every TABLE_STATS_EVERY_MS. */
export const TABLE_STATS_JOB = 'tables.analyze';

/**
 * Registers the sweeps and, given the follow-ups config, the outbox relay and pruning as BullMQ job schedulers, and,
 * given its interval (0: none), the table statistics sweep; upsert makes this idempotent across restarts and deploys.
 */
export async function registerSchedulers(
  maintenance: Queue,
  /** The booking and cart sweeps' interval (SWEEP_EVERY_MS). */
  everyMs: number,
  followUps?: AppConfig['followUps'],
  tableStatsEveryMs = 0,
): Promise<void> {
  const opts = { removeOnComplete: 100, removeOnFail: 500 };
  for (const name of Object.keys(SWEEPS) as SweepName[]) {
    await maintenance.upsertJobScheduler(name, { every: everyMs }, { name, opts });
  }
  for (const name of CART_SWEEP_NAMES) await maintenance.upsertJobScheduler(name, { every: everyMs }, { name, opts });
  if (tableStatsEveryMs > 0) await maintenance.upsertJobScheduler(TABLE_STATS_JOB, { every: tableStatsEveryMs }, { name: TABLE_STATS_JOB, opts });
  else await maintenance.removeJobScheduler(TABLE_STATS_JOB);
  if (!followUps) return;
  const every: Record<OutboxJobName, number> = { 'outbox.relay': followUps.relayEveryMs, 'outbox.prune': followUps.pruneEveryMs };
  for (const name of OUTBOX_JOBS) await maintenance.upsertJobScheduler(name, { every: every[name] }, { name, opts });
}

/**
 * Registers the job schedulers (`register`), and registers them again whenever some are missing, checked every
 * `checkEveryMs`: a queue Redis restarted without its data, or the maintenance queue obliterated from Bull Board,
 * would otherwise stop every sweep and the outbox relay until the scheduler process restarted. Never blocks the
 * start: with Redis down, the first registration waits for it in the background (readiness says "no job schedulers"
 * meanwhile, and the health endpoints answer).
 */
export function keepSchedulersRegistered(maintenance: Queue, register: () => Promise<void>, logger: Logger, checkEveryMs = 30_000) {
  let expected: number | undefined;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      if (expected === undefined) {
        await register();
        expected = await maintenance.getJobSchedulersCount();
        logger.info({ schedulers: expected }, 'job schedulers registered');
      } else if ((await maintenance.getJobSchedulersCount()) < expected) {
        await register();
        logger.warn({ schedulers: expected }, 'job schedulers were missing from Redis; registered them again');
      }
    } catch (err) {
      logger.warn({ err }, 'could not register the job schedulers; trying again');
    } finally {
      busy = false;
    }
  };
  const first = check();
  const timer = setInterval(() => void check(), checkEveryMs);
  timer.unref();
  /** `registered`: the first registration is done (or failed, to be tried again); `check`: checks now. */
  return { registered: first, check, close: () => clearInterval(timer) };
}

export interface MaintenanceWorkerDeps {
  orm: Orm;
  connection: Redis;
  config: AppConfig;
  logger: Logger;
  hooks?: CommandHooks;
  /** The relay's producer; without it relay jobs fail (a scheduler process always passes it). */
  queues?: { notifications: Queue };
}

async function runOutboxJob(deps: MaintenanceWorkerDeps, name: OutboxJobName): Promise<Record<string, number>> {
  if (name === 'outbox.prune') return { pruned: await pruneOutbox(deps.orm, deps.config.followUps.retentionSeconds) };
  if (!deps.queues) throw new Error('outbox.relay needs the notifications queue');
  return { published: await relayOutbox({ orm: deps.orm, queues: deps.queues, config: deps.config }) };
}

export function createMaintenanceWorker(deps: MaintenanceWorkerDeps): Worker {
  const log = deps.logger.child({ queue: QUEUE_NAMES.maintenance });
  /** Every maintenance job that succeeds records when (gauge here, hash in Redis for other processes). Never throws. */
  const recordSuccess = async (name: string) => {
    const at = new Date();
    sweepLastSuccess.set({ sweep: name }, at.getTime() / 1000);
    await recordLastSuccess(deps.connection, deps.config.queue.prefix, name, at).catch((err: unknown) =>
      log.warn({ err, sweep: name }, 'could not record the sweep success in Redis'),
    );
  };
  const processor = async (job: Job, jobLog: Logger) => {
    if (isOutboxJob(job.name)) {
      const result = await runOutboxJob(deps, job.name);
      if (Object.values(result).some(Boolean)) jobLog.info(result, 'outbox upkeep');
      return result;
    }
    if (job.name === TABLE_STATS_JOB) {
      const analyzed = await analyzeStaleTables(deps.orm);
      if (analyzed.length) jobLog.info({ analyzed }, 'analyzed tables autovacuum leaves alone');
      return { analyzed };
    }
    if (isCartSweepName(job.name)) {
      const swept = await runCartSweep(deps.orm, job.name, new Date(), deps.config, deps.hooks);
      if (swept) jobLog.info({ sweep: job.name, swept }, 'cart sweep');
      return { swept };
    }
    if (!(job.name in SWEEPS)) throw new Error(`Unknown maintenance job ${job.name}`);
    const moved = await runSweep(deps.orm, job.name as SweepName, new Date(), deps.hooks);
    if (moved) jobLog.info({ sweep: job.name, moved }, 'sweep moved bookings');
    return { moved };
  };
  const worker = new Worker(
    QUEUE_NAMES.maintenance,
    instrumented(QUEUE_NAMES.maintenance, log, async (job: Job, jobLog: Logger) => {
      const result = await processor(job, jobLog);
      await recordSuccess(job.name);
      return result;
    }),
    { connection: deps.connection, prefix: deps.config.queue.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.error({ err }, 'maintenance worker error'));
  return worker;
}
