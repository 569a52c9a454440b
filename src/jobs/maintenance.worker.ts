import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CommandHooks } from '../commands/run-command.js';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Logger } from '../logger.js';
import { runSweep, SWEEPS, type SweepName } from '../maintenance/sweeps.js';
import { QUEUE_NAMES } from './catalogue.js';

export const SWEEP_EVERY_MS = 60_000;

/** Registers the sweeps as BullMQ job schedulers; upsert makes this idempotent across restarts and deploys. */
export async function registerSchedulers(maintenance: Queue, everyMs = SWEEP_EVERY_MS): Promise<void> {
  for (const name of Object.keys(SWEEPS) as SweepName[]) {
    await maintenance.upsertJobScheduler(name, { every: everyMs }, { name, opts: { removeOnComplete: 100, removeOnFail: 500 } });
  }
}

export function createMaintenanceWorker(deps: { orm: Orm; connection: Redis; config: AppConfig; logger: Logger; hooks?: CommandHooks }): Worker {
  const log = deps.logger.child({ queue: QUEUE_NAMES.maintenance });
  const worker = new Worker(
    QUEUE_NAMES.maintenance,
    async (job: Job) => {
      if (!(job.name in SWEEPS)) throw new Error(`Unknown maintenance job ${job.name}`);
      const moved = await runSweep(deps.orm, job.name as SweepName, new Date(), deps.hooks);
      if (moved) log.info({ sweep: job.name, moved }, 'sweep moved bookings');
      return { moved };
    },
    { connection: deps.connection, prefix: deps.config.queue.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.error({ err }, 'maintenance worker error'));
  return worker;
}
