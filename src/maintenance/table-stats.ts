import type { Orm } from '../db/orm.js';
import { quoteIdentifier } from '../db/sql.js';

/**
 * `tables.analyze`: keeps the planner statistics of the service's tables fresh where autovacuum does not.
 *
 * Why the service cares: its hot statements run as named prepared statements (src/db/sql.ts), and Postgres caches a
 * statement's generic plan per connection until something invalidates it, ANALYZE for one. A table that has never been
 * analyzed is planned from its size at that moment, so a plan made while the inbox, the claims or `email_sends` were
 * a few pages long (a fresh deploy, every test and bench database) stays a sequential scan as the table grows. With
 * autovacuum off nothing ever replans it. Measured with figure 3's load of `npm run bench` alone (200 creates/s, after
 * a 60 s warm-up), Postgres' CPU per command rose from 4.1 to 5.6 ms over three 5 s runs; with one ANALYZE after the
 * warm-up it stayed at 2.5–3.2 ms.
 *
 * So the sweep does what autovacuum's analyze would, by its default rule, for the tables autovacuum leaves alone (the
 * server's `autovacuum` off, or a table's `autovacuum_enabled = false`). Where autovacuum runs it does nothing.
 * `ANALYZE (SKIP_LOCKED)`: a table a VACUUM or DDL holds is left for the next run instead of blocking the scheduler.
 */

/** autovacuum_analyze_threshold and autovacuum_analyze_scale_factor at their Postgres defaults. */
export const ANALYZE_RULE = { threshold: 50, scaleFactor: 0.1 };

export interface TableActivity {
  table: string;
  /** pg_class.reltuples: the row count the last ANALYZE or VACUUM saw; -1 when never. */
  reltuples: number;
  /** Rows inserted, updated or deleted since the last ANALYZE (pg_stat_user_tables.n_mod_since_analyze). */
  modifiedSinceAnalyze: number;
  /** Would autovacuum analyze this table (the server's setting and the table's own)? */
  autovacuum: boolean;
}

/** The tables that autovacuum leaves alone and that have changed enough to need new statistics, by autovacuum's rule. */
export function tablesToAnalyze(tables: readonly TableActivity[], rule = ANALYZE_RULE): string[] {
  return tables
    .filter((t) => !t.autovacuum && t.modifiedSinceAnalyze > rule.threshold + rule.scaleFactor * Math.max(0, t.reltuples))
    .map((t) => t.table)
    .sort();
}

const ACTIVITY_SQL = `select s.relname as "table", c.reltuples::float8 as "reltuples", s.n_mod_since_analyze::float8 as "modifiedSinceAnalyze",
    current_setting('autovacuum')::bool
      and coalesce((select o.option_value::bool from pg_options_to_table(c.reloptions) o where o.option_name = 'autovacuum_enabled'), true) as "autovacuum"
  from pg_stat_user_tables s join pg_class c on c.oid = s.relid
  where s.schemaname = current_schema()`;

export async function readTableActivity(orm: Orm): Promise<TableActivity[]> {
  return orm.em.getConnection().execute<TableActivity[]>(ACTIVITY_SQL, [], 'all');
}

/** One run of the sweep: the tables it analyzed (none where autovacuum does the work). */
export async function analyzeStaleTables(orm: Orm, rule = ANALYZE_RULE): Promise<string[]> {
  const due = tablesToAnalyze(await readTableActivity(orm), rule);
  if (due.length) await orm.em.getConnection().execute(`analyze (skip_locked) ${due.map(quoteIdentifier).join(', ')}`, [], 'run');
  return due;
}
