import { FlushMode, MikroORM, type EntityManager, type EntityName, type FilterQuery, type FindOptions } from '@mikro-orm/postgresql';
import pg from 'pg';
import { keepMikroOrmOffAsyncContext } from './no-async-context.js';
import { migrationsList } from './migrations/index.js';
import { ormOptions, type OrmSettings } from './orm-options.js';
import type { Logger } from '../logger.js';

export type Orm = MikroORM;

export function createOrm(databaseUrl: string, options: OrmSettings = {}): Promise<Orm> {
  keepMikroOrmOffAsyncContext();
  return MikroORM.init(ormOptions(databaseUrl, options));
}

/**
 * `orm.em.fork().transactional(fn)` without its AsyncLocalStorage (MikroORM runs `transactional` callbacks in one;
 * why that matters: ./no-async-context.ts). The transaction is the fork's own instead (begin, then commit or
 * rollback on it): the same flush before commit, the same rollback and rethrow on error.
 */
export async function inTransaction<T>(orm: Orm, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  const em = orm.em.fork();
  await em.begin();
  try {
    const result = await fn(em);
    await em.commit();
    return result;
  } catch (e) {
    // Releases the connection; a commit that failed leaves nothing to roll back, so that error is not the one to report.
    await em.rollback().catch(() => undefined);
    throw e;
  }
}

/**
 * `em.findAndCount()` without its AsyncLocalStorage (./no-async-context.ts), for reads: the page and the total,
 * queried at once on a fork with nothing to flush (no auto-flush is tried before either query).
 */
export async function findAndCount<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  options: FindOptions<T, never, never, never>,
): Promise<[T[], number]> {
  const read = { ...options, flushMode: FlushMode.COMMIT };
  const [items, total] = await Promise.all([em.find(entity, where, read), em.count(entity, where, read as never)]);
  return [items as T[], total];
}

/**
 * Creates the database named in the URL when it does not exist yet (a fresh laptop, a new test file). The database
 * itself is tried first: a role that may connect only to its own database (a pg_hba rule, a pooler in front) has
 * nothing to create and never needs the maintenance database `postgres`, which is asked only when it is missing.
 */
export async function ensureDatabase(databaseUrl: string, template?: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`Unsupported database name in DATABASE_URL: ${name}`);
  try {
    const own = new pg.Client({ connectionString: databaseUrl });
    await own.connect();
    await own.end();
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e;
  }
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`create database "${name}"${template ? ` template "${template}"` : ''}`);
  } catch (e) {
    // Another process created it between our check and our create.
    if ((e as { code?: string }).code !== '42P04') throw e;
  } finally {
    await client.end();
  }
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

/**
 * The release step (`npm run migrate`, the Procfile's release phase, `npm start` before its roles): creates the
 * database if missing, applies the pending migrations on a connection of its own, and logs what it applied.
 */
export async function migrateDatabase(databaseUrl: string, logger: Logger): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const orm = await createOrm(databaseUrl, { poolMax: 2, logger });
  const applied = await migrate(orm).finally(() => orm.close());
  logger.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
  return applied;
}

/** Throws the driver's error when the database cannot be used (down, missing, login refused), for the start. */
export async function assertDatabaseUsable(orm: Orm): Promise<void> {
  const check = await orm.checkConnection();
  if (!check.ok) throw check.error ?? new Error(check.reason);
}

/**
 * How many committed migrations are not applied (readiness, and a warning at start). A database never migrated
 * has them all pending: asked first, so that MikroORM's check, which creates its bookkeeping table, never writes
 * into a database a web or worker process was only pointed at.
 */
export async function migrationsPending(orm: Orm): Promise<number> {
  const [{ table }] = await orm.em.getConnection().execute<[{ table: string | null }]>(
    `select to_regclass(?) as "table"`,
    [orm.config.get('migrations').tableName ?? 'mikro_orm_migrations'],
  );
  if (table === null) return migrationsList.length;
  return (await orm.getMigrator().getPendingMigrations()).length;
}
