import { createOrm, ensureDatabase, migrate } from '../../src/db/orm.js';
import { adminQuery, dbUrl, templateName } from './db.js';

/**
 * Once per test run: make sure the migrated template database exists. Each test file then clones it
 * (tests/helpers/db.ts), which is much faster than migrating per file.
 */
export default async function setup() {
  const name = templateName();
  const exists = await adminQuery('select 1 from pg_database where datname = $1', [name]);
  if (exists.rowCount) return;
  const building = `${name}_building_${process.pid}`;
  await ensureDatabase(dbUrl(building));
  const orm = await createOrm(dbUrl(building), { poolMax: 2 });
  try {
    await migrate(orm);
  } finally {
    await orm.close();
  }
  // Rename into place only when complete, so an interrupted run never leaves a half-migrated template.
  try {
    await adminQuery(`alter database "${building}" rename to "${name}"`);
  } catch (e) {
    await adminQuery(`drop database if exists "${building}" with (force)`);
    if (!/already exists/.test(String(e))) throw e;
  }
  // Old templates from earlier migrations are dropped.
  const stale = await adminQuery<{ datname: string }>(
    "select datname from pg_database where datname like 'cw_template_%' and datname <> $1",
    [name],
  );
  for (const row of stale.rows) await adminQuery(`drop database if exists "${row.datname}" with (force)`);
}
