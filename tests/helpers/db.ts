import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

/** Where tests find Postgres: TEST_DATABASE_URL's server (default the local one), one database per test file. */
export const PG_BASE = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function dbUrl(name: string): string {
  const url = new URL(PG_BASE);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The template's name changes whenever a migration changes, so a stale template is never reused. */
export function templateName(): string {
  const dir = new URL('../../src/db/migrations/', import.meta.url);
  const hash = createHash('sha256');
  for (const f of readdirSync(dir).sort()) hash.update(f).update(readFileSync(new URL(f, dir)));
  return `cw_template_${hash.digest('hex').slice(0, 12)}`;
}

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: PG_BASE });
  await client.connect();
  try {
    return await client.query<T>(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database cloned from the migrated template (fast: a file copy, no migrations), or with `empty`, one with
 * no migration applied yet.
 */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `cw_test_${randomBytes(6).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`create database "${name}"${opts.empty ? '' : ` template "${templateName()}"`}`);
      break;
    } catch (e) {
      // Two files cloning at the same instant can see each other on the template; try again.
      if (attempt >= 20 || !/being accessed by other users/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  return {
    name,
    url: dbUrl(name),
    drop: async () => {
      await adminQuery(`drop database if exists "${name}" with (force)`);
    },
  };
}

/** Runs `f` on a connection of its own to `url`, closed afterwards (a closed backend has reported its row counts). */
export async function withDb<T>(url: string, f: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end();
  }
}

/** A `?`-bound statement of src/ (as src/db/sql.ts takes them) in pg's `$1…$n` form, to run it with a bare client. */
export function positional(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
