import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expiredHoldsDelete } from '../../src/commands/claims.js';
import { EMAIL_SENT_SQL } from '../../src/follow-ups/notification.handlers.js';
import { MARK_PUBLISHED_SQL } from '../../src/follow-ups/outbox.js';
import { positional } from '../helpers/db.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * Plans of the hot follow-up writes, as Postgres runs them: named prepared statements with a generic plan
 * (src/db/sql.ts). Each finds its rows through the primary key on a table with thousands of rows and fresh statistics,
 * where a join to a recordset of the same ids was planned as a scan of the whole table.
 */
let stack: Stack;
let client: pg.Client;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  client = new pg.Client({ connectionString: stack.config.db.url });
  await client.connect();
  await client.query(`insert into email_sends (id, outbox_id, recipient, event_type, status, attempts, created_at)
    select gen_random_uuid(), gen_random_uuid(), 'r' || g || '@example.com', 'BOOKING_CREATED', 'sending', 1, now() from generate_series(1, 6000) g`);
  // Outbox rows as commands leave them: written unpublished, then marked (the partial index of unpublished rows
  // keeps their dead entries until a VACUUM), then counted by an ANALYZE that sees none unpublished.
  await client.query(`insert into outbox (id, event_type, aggregate_id, payload, created_at, published_at, attempts)
    select gen_random_uuid(), 'BOOKING_CREATED', gen_random_uuid(), '{}', now(), null, 0 from generate_series(1, 6000) g`);
  await client.query('update outbox set published_at = now()');
  // Claims on 60 spaces, 100 one-hour slots each, some of them holds (foreign keys off for the filler rows).
  await client.query('set session_replication_role = replica');
  await client.query(`insert into reservations (id, space_id, kind, booking_id, starts_at, ends_at, expires_at, created_at)
    select gen_random_uuid(), s.id, case when h % 10 = 0 then 'hold' else 'booking' end, null,
      now() + make_interval(hours => h), now() + make_interval(hours => h + 1), case when h % 10 = 0 then now() end, now()
    from (select gen_random_uuid() as id from generate_series(1, 60)) s, generate_series(1, 100) h`);
  await client.query('set session_replication_role = default');
  await client.query('analyze email_sends, outbox, reservations');
  await client.query('set plan_cache_mode = force_generic_plan');
});
afterAll(async () => {
  await client?.end();
  await stack?.close();
});

/** The statement's `?` as `$1…$n`, prepared, and its plan for `args`. */
async function genericPlan(name: string, sql: string, types: string[], args: string): Promise<string> {
  await client.query(`prepare ${name}(${types.join(', ')}) as ${positional(sql)}`);
  const rows = (await client.query<{ 'QUERY PLAN': string }>(`explain execute ${name}${args}`)).rows;
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

describe('the ORM plans its named statements once per connection', () => {
  it('runs its sessions with plan_cache_mode = force_generic_plan (src/db/orm-options.ts)', async () => {
    const rows = await stack.orm.em.getConnection().execute<{ plan_cache_mode: string }[]>('show plan_cache_mode');
    expect(rows[0]!.plan_cache_mode).toBe('force_generic_plan');
  });
});

describe('hot writes use an index, not a scan', () => {
  it('recording emails sent', async () => {
    const plan = await genericPlan('sent', EMAIL_SENT_SQL, ['text[]', 'uuid[]', 'uuid[]'], `(array['m'], array[gen_random_uuid()], array[gen_random_uuid()])`);
    expect(plan).toMatch(/email_sends_pkey/);
    expect(plan).not.toMatch(/Seq Scan on email_sends/);
  });

  it("a create's expired-hold cleanup (the group commit's first statement)", async () => {
    const { sql } = expiredHoldsDelete([]);
    const plan = await genericPlan('holds', sql, ['uuid[]', 'timestamptz[]', 'timestamptz[]', 'timestamptz[]'], `(array[gen_random_uuid()], array[now()], array[now()], array[now()])`);
    // One probe of the space's claims per slot (the EXCLUDE constraint's index), never a walk of every hold.
    expect(plan).toMatch(/Index Scan using reservations_no_overlap/);
    expect(plan).not.toMatch(/Seq Scan on reservations|reservations_expires_at_index/);
  });

  it('marking outbox rows published', async () => {
    const plan = await genericPlan('marks', MARK_PUBLISHED_SQL, ['timestamptz', 'uuid[]'], `(now(), array[gen_random_uuid()])`);
    expect(plan).toMatch(/outbox_pkey/);
    expect(plan).not.toMatch(/outbox_unpublished_index|Seq Scan on outbox/);
  });
});
