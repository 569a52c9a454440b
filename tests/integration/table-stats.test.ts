import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BOOKABLE_SPACES } from '../../src/api/lookups.js';
import { createMaintenanceWorker, registerSchedulers, TABLE_STATS_JOB } from '../../src/jobs/maintenance.worker.js';
import { createLogger } from '../../src/logger.js';
import { analyzeStaleTables, readTableActivity } from '../../src/maintenance/table-stats.js';
import { createRedis } from '../../src/redis.js';
import { withDb } from '../helpers/db.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * The table statistics sweep (src/maintenance/table-stats.ts) against this file's own database. Each table it is
 * tested on has autovacuum switched off for that table, so the sweep is the one to analyze it whatever the server's
 * `autovacuum` says.
 */
let stack: Stack;
let dbUrl: string;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dbUrl = stack.config.db.url;
});
afterAll(() => stack?.close());

// A backend reports its row counts to the statistics at the latest when it exits: hence a connection per step.
const withClient = <T>(run: (c: pg.Client) => Promise<T>) => withDb(dbUrl, run);

/** Inserts `n` finished commands into the inbox, on a connection of its own (closed, so its counts are reported). */
const fillInbox = (n: number, tag: string) =>
  withClient((c) =>
    c.query(
      `insert into processed_commands (id, name, outcome, requested_at, processed_at)
       select $1 || g, 'booking.create', 'completed', now(), now() from generate_series(1, $2::int) g`,
      [`${tag}-`, n],
    ),
  );

const modified = async (table: string) => (await readTableActivity(stack.orm)).find((t) => t.table === table)?.modifiedSinceAnalyze ?? 0;
const waitForCounts = (table: string, atLeast: number) =>
  vi.waitFor(async () => expect(await modified(table)).toBeGreaterThanOrEqual(atLeast), { timeout: 15_000, interval: 50 });

describe('tables.analyze', () => {
  it('replans the statements a connection prepared while the inbox was empty: a sequential scan becomes an index scan', async () => {
    await withClient((c) => c.query('alter table processed_commands set (autovacuum_enabled = false)'));
    await withClient(async (c) => {
      // The API's space + inbox lookup, as the web runs it: prepared once per connection, its generic plan cached.
      await c.query('set plan_cache_mode = force_generic_plan');
      await c.query(`prepare lookup(uuid[], text[], text[]) as ${BOOKABLE_SPACES.text}`);
      const plan = async () =>
        (await c.query<{ 'QUERY PLAN': string }>(`explain execute lookup(array[gen_random_uuid()], array['none'], array['idem-none'])`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(await plan()).toMatch(/Seq Scan on processed_commands/);

      await fillInbox(5000, 'plan');
      await waitForCounts('processed_commands', 5000);
      // Nothing replans it on its own: still a scan of every row of the inbox, on every request.
      expect(await plan()).toMatch(/Seq Scan on processed_commands/);

      expect(await analyzeStaleTables(stack.orm)).toContain('processed_commands');
      expect(await plan()).toMatch(/Index Scan using processed_commands_pkey on processed_commands/);
    });
  });

  it('analyzes a table by autovacuum’s rule (50 rows + 10 % of it changed), once, and leaves the unchanged ones', async () => {
    await withClient((c) => c.query('alter table email_sends set (autovacuum_enabled = false)'));
    const insertSends = (n: number) =>
      withClient((c) =>
        c.query(
          `insert into email_sends (id, outbox_id, recipient, event_type, status, attempts, created_at)
           select gen_random_uuid(), gen_random_uuid(), 'r' || g || '@example.com', 'BOOKING_CREATED', 'sent', 1, now() from generate_series(1, $1::int) g`,
          [n],
        ),
      );
    await insertSends(40);
    await waitForCounts('email_sends', 40);
    expect(await analyzeStaleTables(stack.orm)).not.toContain('email_sends'); // 40 ≤ 50

    await insertSends(20);
    await waitForCounts('email_sends', 60);
    expect(await analyzeStaleTables(stack.orm)).toContain('email_sends');
    const analyzed = await withClient((c) => c.query(`select last_analyze, n_mod_since_analyze from pg_stat_user_tables where relname = 'email_sends'`));
    expect(analyzed.rows[0].last_analyze).not.toBeNull();
    expect(await modified('email_sends')).toBe(0);
    // Analyzed at 60 rows: the next run needs more than 50 + 6 changes.
    expect(await analyzeStaleTables(stack.orm)).not.toContain('email_sends');
    await insertSends(30);
    await waitForCounts('email_sends', 30);
    expect(await analyzeStaleTables(stack.orm)).not.toContain('email_sends');
  });

  it('runs on the maintenance queue as a job scheduler of its own, registered only with an interval', async () => {
    const schedulerNames = async () => (await stack.queues.maintenance.getJobSchedulers(0, -1)).map((s) => ({ name: s.name, every: s.every }));
    await registerSchedulers(stack.queues.maintenance, 3_600_000, undefined, 5_000);
    expect(await schedulerNames()).toContainEqual({ name: TABLE_STATS_JOB, every: 5_000 });
    await registerSchedulers(stack.queues.maintenance, 3_600_000, undefined, 0);
    expect((await schedulerNames()).map((s) => s.name)).not.toContain(TABLE_STATS_JOB);
    // The schedulers' first jobs go too, so the job below is the one that runs the sweep.
    await stack.queues.maintenance.obliterate({ force: true });

    // More than 50 + 10 % of what the first test left analyzed (5,000 rows).
    await fillInbox(1000, 'job');
    await waitForCounts('processed_commands', 1000);
    const connection = createRedis(stack.config.redis.url, 'worker');
    const worker = createMaintenanceWorker({ orm: stack.orm, connection, config: stack.config, logger: createLogger({ logLevel: 'silent' }, 'test'), queues: stack.queues });
    try {
      const job = await stack.queues.maintenance.add(TABLE_STATS_JOB, {});
      await vi.waitFor(async () => expect(await job.getState()).toBe('completed'), { timeout: 15_000, interval: 50 });
      const done = await stack.queues.maintenance.getJob(job.id!);
      expect(done?.returnvalue).toEqual({ analyzed: expect.arrayContaining(['processed_commands']) });
    } finally {
      await worker.close();
      await connection.quit();
    }
  });
});
