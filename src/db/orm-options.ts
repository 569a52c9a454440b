import { defineConfig, type LoggerOptions } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { entities } from './entities/index.js';
import { migrationsList } from './migrations/index.js';
import type { Logger } from '../logger.js';
import { knexLog, PinoOrmLogger } from './orm-logger.js';
import { closeOnQueryTimeout, keptAfterTimeouts } from './query-timeout.js';

const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

export interface OrmSettings {
  poolMax?: number;
  /** pg's `query_timeout`, with the connection closed behind a query that met it; 0 or unset: none. */
  queryTimeoutMs?: number;
  logger?: Logger;
}

/**
 * ORM options for a database URL. Entities are listed, not discovered from folders, so the same options work
 * from sources (tsx) and from the built tree. Migrations live beside this file in both. With a logger, what
 * MikroORM and knex print goes through it (JSON lines); without (the CLI), MikroORM prints as it does by default.
 */
export function ormOptions(databaseUrl: string, { poolMax = 10, queryTimeoutMs = 0, logger }: OrmSettings = {}) {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    // Workers fork an EntityManager per job; the global one must never be used implicitly.
    allowGlobalContext: false,
    // Never create a missing database behind a web or worker process's back (empty, unmigrated): the release step
    // does that (migrateDatabase), and a process started against a missing database says so (src/start-failure.ts).
    ensureDatabase: false,
    forceUtcTimezone: true,
    pool: {
      min: 0,
      max: poolMax,
      acquireTimeoutMillis: 5000,
      ...(queryTimeoutMs > 0
        ? {
            afterCreate: (connection: pg.Client, done: (err: null, c: pg.Client) => void) => (closeOnQueryTimeout(connection), done(null, connection)),
            validate: keptAfterTimeouts,
          }
        : {}),
    },
    ...(logger ? { loggerFactory: (options: LoggerOptions) => new PinoOrmLogger(options, logger) } : {}),
    driverOptions: {
      ...(logger ? { log: knexLog(logger) } : {}),
      connection: {
        // The whole URL, for pg to read (it wins over the parts MikroORM takes from `clientUrl`, which keeps only host,
        // port, user, password and database): its query parameters too, `sslmode` and the like, as psql reads them.
        connectionString: databaseUrl,
        // Fail fast when Postgres is down, so the API can answer 503 rather than hang.
        connectionTimeoutMillis: 3000,
        // …and when it stops answering on a connection already open (src/db/query-timeout.ts).
        ...(queryTimeoutMs > 0 ? { query_timeout: queryTimeoutMs } : {}),
        // Lets the kernel find a peer that went away while the connection sat idle in the pool.
        keepAlive: true,
        // Generic plans for the named statements of src/db/sql.ts (MikroORM's own are unnamed, planned at every call
        // whatever this says). Those are keyed by arrays and JSON recordsets of ids, where a plan for the values at
        // hand buys nothing: left to choose, Postgres kept planning the group commit's first statement afresh at
        // every create (0.5 ms of planning for 0.2 ms of work) because its generic plan costs more on paper. A
        // cached plan is replanned when the tables' statistics change (src/maintenance/table-stats.ts).
        options: '-c plan_cache_mode=force_generic_plan',
      },
    },
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      // Generated files go to `path`; applied ones come from `migrationsList`.
      migrationsList,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    debug: false,
  });
}
