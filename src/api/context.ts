import type { Redis } from 'ioredis';
import type { ReadCache } from '../cache/read-cache.js';
import type { AppConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { Role } from '../db/entities/index.js';
import type { FinishedSignals } from '../jobs/finished-signal.js';
import type { Queues } from '../jobs/queues.js';
import type { Logger } from '../logger.js';

/** Everything the HTTP layer needs, built by the process entrypoint (or a test) and passed to createApp. */
export interface AppDeps {
  config: AppConfig;
  orm: Orm;
  redis: Redis;
  queues: Queues;
  /** Read-through cache for booking detail, lists and availability. */
  cache: ReadCache;
  /** For `Prefer: wait`; without it the API waits by reading the job once (it answers 202 unless already finished). */
  finished?: FinishedSignals;
  logger: Logger;
}

export interface AuthUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export type AppEnv = { Variables: { user: AuthUser; requestId: string } };

export const isStaffRole = (role: Role) => role === 'staff' || role === 'admin';
