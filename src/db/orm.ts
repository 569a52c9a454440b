import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormOptions } from './orm-options.js';

export type Orm = MikroORM;

export function createOrm(databaseUrl: string, poolMax?: number): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, poolMax));
}

/** Creates the database named in the URL when it does not exist yet (a fresh laptop, a new test file). */
export async function ensureDatabase(databaseUrl: string, template?: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`Unsupported database name in DATABASE_URL: ${name}`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return;
    try {
      await client.query(`create database "${name}"${template ? ` template "${template}"` : ''}`);
    } catch (e) {
      // Another process created it between our check and our create.
      if ((e as { code?: string }).code !== '42P04') throw e;
    }
  } finally {
    await client.end();
  }
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

/** True when every committed migration has been applied (readiness). */
export async function migrationsPending(orm: Orm): Promise<number> {
  return (await orm.getMigrator().getPendingMigrations()).length;
}
