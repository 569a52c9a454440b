import { z } from 'zod';
import { decimal } from './decimal.js';

/**
 * The only reader of process.env. Parsed once, typed, with laptop defaults; production refuses the
 * defaults that would be unsafe there (JWT secret, Bull Board password). A bad value fails the start
 * with a message naming every offending variable.
 */
const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const DEV_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/coworking';
const DEV_REDIS_URL = 'redis://127.0.0.1:6379';
const DEV_JWT_SECRET = 'dev-only-secret-change-me-0123456789';

const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    // Empty is unset (3000), as for every variable: `PORT=` must not become 0, a random port.
    PORT: decimal(z.number().int().min(0).max(65535)).default(3000),
    HOST: z.string().default('0.0.0.0'),
    // Laptop defaults outside production (DEV_DATABASE_URL, DEV_REDIS_URL); production must name both.
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    DATABASE_POOL_MAX: decimal(z.number().int().min(1).max(200)).default(10),
    // A query Postgres has not answered in this time fails as an outage (503, a retry) and its connection is
    // replaced (src/db/query-timeout.ts); 0 waits for ever. Migrations never time out.
    DATABASE_QUERY_TIMEOUT_MS: decimal(z.number().int().min(0).max(3_600_000)).default(10_000),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional(),
    CACHE_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional(),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('cowork'),
    JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    BULL_BOARD_USER: z.string().min(1).default('admin'),
    BULL_BOARD_PASSWORD: z.string().min(1).optional(),
    BULL_BOARD_READ_ONLY: bool.default(true),
    // 256 in flight: creates are written in groups (below), formed by the jobs in flight while a group writes, and
    // bigger groups cost less per command (measured: bench, figure 1: 32 → 256 took it from ~1250 to ~2400 creates/s
    // and the CPU per command down by a tenth). Other commands hold a pooled connection each only while they run.
    COMMAND_CONCURRENCY: decimal(z.number().int().min(1).max(500)).default(256),
    // Most booking creates written together (src/commands/group-commit.ts); 1 = one transaction per command.
    COMMAND_GROUP_MAX: decimal(z.number().int().min(1).max(500)).default(128),
    // Groups writing at once per worker process: a create handed over while one writes starts its own at once.
    COMMAND_GROUPS_IN_FLIGHT: decimal(z.number().int().min(1).max(50)).default(2),
    NOTIFICATION_CONCURRENCY: decimal(z.number().int().min(1).max(500)).default(10),
    COMMAND_ATTEMPTS: decimal(z.number().int().min(1).max(50)).default(8),
    COMMAND_BACKOFF_MS: decimal(z.number().int().min(1)).default(250),
    JOB_KEEP_COMPLETED_SECONDS: decimal(z.number().int().min(0)).default(24 * 3600),
    JOB_KEEP_COMPLETED_COUNT: decimal(z.number().int().min(0)).default(10_000),
    JOB_KEEP_FAILED_SECONDS: decimal(z.number().int().min(0)).default(7 * 24 * 3600),
    JOB_KEEP_FAILED_COUNT: decimal(z.number().int().min(0)).default(50_000),
    CACHE_TTL_SECONDS: decimal(z.number().int().min(1)).default(3600),
    CACHE_ENABLED: bool.default(true),
    BODY_LIMIT_BYTES: decimal(z.number().int().min(1024)).default(64 * 1024),
    PREFER_WAIT_MAX_SECONDS: decimal(z.number().int().min(0).max(30)).default(30),
    READY_TIMEOUT_MS: decimal(z.number().int().min(50)).default(2000),
    // The worker's and the scheduler's own /healthz, /readyz and /metrics (0 = any free port); unset = none.
    HEALTH_PORT: decimal(z.number().int().min(0).max(65535)).optional(),
    SWEEP_STALE_FACTOR: decimal(z.number().min(1).max(1000)).default(3),
    // how often the booking sweeps (auto-complete, expiry) and the cart sweeps run
    SWEEP_EVERY_MS: decimal(z.number().int().min(1000)).default(60_000),
    // how often the scheduler analyzes the tables autovacuum leaves alone (src/maintenance/table-stats.ts); 0 = never
    TABLE_STATS_EVERY_MS: decimal(z.number().int().refine((v) => v === 0 || v >= 1000, '0 (never) or at least 1000')).default(60_000),
    SHUTDOWN_TIMEOUT_MS: decimal(z.number().int().min(0)).default(25_000),
    // BullMQ job locks of the command and notification workers: a job whose worker died (SIGKILL, lost host) is
    // found stalled by the next check after its lock lapses, and handed to a worker again (the inbox makes it safe).
    WORKER_LOCK_DURATION_MS: decimal(z.number().int().min(500)).default(30_000),
    WORKER_STALLED_INTERVAL_MS: decimal(z.number().int().min(100)).default(30_000),
    // carts: how long an add-item holds its slot (fractions allowed: 0.5 = 30 s), and when an untouched cart is abandoned
    CART_HOLD_MINUTES: decimal(z.number().positive().max(24 * 60)).default(15),
    CART_IDLE_MINUTES: decimal(z.number().positive().max(30 * 24 * 60)).default(60),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // follow-ups: outbox relay and pruning, email, webhooks
    OUTBOX_RELAY_EVERY_MS: decimal(z.number().int().min(100)).default(5000),
    OUTBOX_RELAY_GRACE_MS: decimal(z.number().int().min(0)).default(5000),
    OUTBOX_RELAY_BATCH: decimal(z.number().int().min(1).max(10_000)).default(500),
    // how long a worker gathers the published marks of its commands before writing them in one statement
    OUTBOX_MARK_DELAY_MS: decimal(z.number().int().min(0).max(1000)).default(20),
    OUTBOX_RETENTION_SECONDS: decimal(z.number().int().min(60)).default(7 * 24 * 3600),
    OUTBOX_PRUNE_EVERY_MS: decimal(z.number().int().min(1000)).default(3_600_000),
    NOTIFICATION_ATTEMPTS: decimal(z.number().int().min(1).max(50)).default(8),
    NOTIFICATION_BACKOFF_MS: decimal(z.number().int().min(1)).default(1000),
    SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
    EMAIL_FROM: z.string().min(3).default('Coworking <no-reply@coworking.local>'),
    EMAIL_ATTEMPTS: decimal(z.number().int().min(1).max(50)).default(5),
    EMAIL_BACKOFF_MS: decimal(z.number().int().min(1)).default(5000),
    WEBHOOK_ATTEMPTS: decimal(z.number().int().min(1).max(50)).default(8),
    WEBHOOK_BACKOFF_MS: decimal(z.number().int().min(1)).default(2000),
    WEBHOOK_TIMEOUT_MS: decimal(z.number().int().min(100).max(60_000)).default(5000),
    // May webhooks reach loopback and private networks? Unset: yes outside production (a receiver on a laptop), no in it.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool.optional(),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    for (const name of ['DATABASE_URL', 'REDIS_URL'] as const)
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required in production (no laptop default there)' });
    // The development secret and the published placeholders (docker-compose.yml) are known to everyone.
    if (!env.JWT_SECRET || env.JWT_SECRET.length < 32 || /change-?me/i.test(env.JWT_SECRET))
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required in production, at least 32 characters, not a placeholder' });
    if (!env.BULL_BOARD_PASSWORD || env.BULL_BOARD_PASSWORD.length < 8 || /^(admin|password|change-?me)$/i.test(env.BULL_BOARD_PASSWORD))
      ctx.addIssue({ code: 'custom', path: ['BULL_BOARD_PASSWORD'], message: 'required in production, at least 8 characters, not a placeholder' });
  });

export type Env = z.infer<typeof EnvSchema>;

/** A bad environment: its message names every offending variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env) {
  // An empty (or blank) variable is unset, as for a variable not there: `SHUTDOWN_TIMEOUT_MS=` is the default, not 0.
  const set = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = EnvSchema.safeParse(set);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  return {
    env: env.NODE_ENV,
    http: { port: env.PORT, host: env.HOST, bodyLimitBytes: env.BODY_LIMIT_BYTES, preferWaitMaxSeconds: env.PREFER_WAIT_MAX_SECONDS },
    db: { url: env.DATABASE_URL ?? DEV_DATABASE_URL, poolMax: env.DATABASE_POOL_MAX, queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS },
    redis: { url: env.REDIS_URL ?? DEV_REDIS_URL, cacheUrl: env.CACHE_REDIS_URL ?? env.REDIS_URL ?? DEV_REDIS_URL },
    queue: {
      prefix: env.QUEUE_PREFIX,
      commandConcurrency: env.COMMAND_CONCURRENCY,
      commandGroupMax: env.COMMAND_GROUP_MAX,
      commandGroupsInFlight: env.COMMAND_GROUPS_IN_FLIGHT,
      notificationConcurrency: env.NOTIFICATION_CONCURRENCY,
      attempts: env.COMMAND_ATTEMPTS,
      backoffMs: env.COMMAND_BACKOFF_MS,
      keepCompleted: { age: env.JOB_KEEP_COMPLETED_SECONDS, count: env.JOB_KEEP_COMPLETED_COUNT },
      keepFailed: { age: env.JOB_KEEP_FAILED_SECONDS, count: env.JOB_KEEP_FAILED_COUNT },
      lockDurationMs: env.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    },
    // Development-only fallbacks; production is refused above without real values.
    auth: { jwtSecret: env.JWT_SECRET ?? DEV_JWT_SECRET },
    bullBoard: { user: env.BULL_BOARD_USER, password: env.BULL_BOARD_PASSWORD ?? 'admin', readOnly: env.BULL_BOARD_READ_ONLY },
    cache: { ttlSeconds: env.CACHE_TTL_SECONDS, enabled: env.CACHE_ENABLED },
    followUps: {
      relayEveryMs: env.OUTBOX_RELAY_EVERY_MS,
      relayGraceMs: env.OUTBOX_RELAY_GRACE_MS,
      relayBatch: env.OUTBOX_RELAY_BATCH,
      markDelayMs: env.OUTBOX_MARK_DELAY_MS,
      retentionSeconds: env.OUTBOX_RETENTION_SECONDS,
      pruneEveryMs: env.OUTBOX_PRUNE_EVERY_MS,
      // The event job itself (notification row + fan-out): retried on transient faults only.
      event: { attempts: env.NOTIFICATION_ATTEMPTS, backoffMs: env.NOTIFICATION_BACKOFF_MS },
      email: { smtpUrl: env.SMTP_URL, from: env.EMAIL_FROM, attempts: env.EMAIL_ATTEMPTS, backoffMs: env.EMAIL_BACKOFF_MS },
      webhook: {
        attempts: env.WEBHOOK_ATTEMPTS,
        backoffMs: env.WEBHOOK_BACKOFF_MS,
        timeoutMs: env.WEBHOOK_TIMEOUT_MS,
        allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS ?? env.NODE_ENV !== 'production',
      },
    },
    readyTimeoutMs: env.READY_TIMEOUT_MS,
    /** `port` undefined: the worker and scheduler serve no health endpoints. A sweep is stale after `sweepStaleFactor` × its interval without success. */
    health: { port: env.HEALTH_PORT, sweepStaleFactor: env.SWEEP_STALE_FACTOR },
    maintenance: { sweepEveryMs: env.SWEEP_EVERY_MS, tableStatsEveryMs: env.TABLE_STATS_EVERY_MS },
    cart: { holdMinutes: env.CART_HOLD_MINUTES, idleMinutes: env.CART_IDLE_MINUTES },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    logLevel: env.LOG_LEVEL,
  };
}

export type AppConfig = ReturnType<typeof loadConfig>;
