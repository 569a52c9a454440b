import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrm, inTransaction, type Orm } from '../../src/db/orm.js';
import { query } from '../../src/db/sql.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * `query` (src/db/sql.ts), the runner of the hand-written statements: named prepared statements on the ORM's own
 * connections, in the entity manager's transaction when it has one.
 */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: Orm;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm(db.url, { poolMax: 1 }); // one connection: every statement below runs on it
  await orm.em.getConnection().execute('create table sql_probe (id int primary key, label text)', [], 'run');
});
afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

const PROBE = 'select ?::int + 1 as "n", ?::text as "label"';
const prepared = () => query<{ name: string; statement: string }>(orm.em, 'select name, statement from pg_prepared_statements order by name');

describe('query: hand-written statements', () => {
  it('binds ? as parameters (arrays as Postgres arrays) and is prepared once per connection, under a name of its text', async () => {
    for (let i = 0; i < 3; i++) expect(await query(orm.em, PROBE, [i, `x${i}`])).toEqual([{ n: i + 1, label: `x${i}` }]);
    expect(await query(orm.em, 'select cardinality(?::uuid[]) as "n"', [[crypto.randomUUID(), crypto.randomUUID()]])).toEqual([{ n: 2 }]);
    const mine = (await prepared()).filter((p) => p.statement === 'select $1::int + 1 as "n", $2::text as "label"');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.name).toMatch(/^q_[0-9a-f]{20}_\d+$/);
  });

  it('a backslash-escaped \\? stays a literal question mark', async () => {
    expect(await query(orm.em, `select '\\?' || ?::text as "s"`, ['a'])).toEqual([{ s: '?a' }]);
  });

  it('runs in the entity manager transaction: rolled back with it, visible inside it', async () => {
    await expect(
      inTransaction(orm, async (em) => {
        await query(em, 'insert into sql_probe (id, label) values (?, ?)', [1, 'rolled back']);
        expect(await query(em, 'select label from sql_probe where id = ?', [1])).toEqual([{ label: 'rolled back' }]);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await query(orm.em, 'select label from sql_probe where id = ?', [1])).toEqual([]);
    await inTransaction(orm, (em) => query(em, 'insert into sql_probe (id, label) values (?, ?)', [2, 'committed']));
    expect(await query(orm.em, 'select label from sql_probe where id = ?', [2])).toEqual([{ label: 'committed' }]);
  });

  it('a failed statement fails its caller with the driver error, and its connection keeps serving the others', async () => {
    await expect(query(orm.em, 'insert into sql_probe (id, label) values (?, ?)', [2, 'duplicate'])).rejects.toMatchObject({ code: '23505' });
    expect(await query(orm.em, PROBE, [41, 'after'])).toEqual([{ n: 42, label: 'after' }]);
  });

  it('a statement whose result type changed under it (a migration) is prepared again, not refused', async () => {
    const read = 'select label from sql_probe where id = ?';
    expect(await query(orm.em, read, [2])).toEqual([{ label: 'committed' }]);
    await orm.em.getConnection().execute('alter table sql_probe alter column label type varchar(100)', [], 'run');
    expect(await query(orm.em, read, [2])).toEqual([{ label: 'committed' }]);
  });

  it('is seen by listeners of the ORM query events, as knex announces its own', async () => {
    const knex = orm.em.getConnection().getKnex();
    const seen: string[] = [];
    const listener = (q: { sql: string }) => seen.push(q.sql);
    knex.on('query', listener);
    try {
      await query(orm.em, PROBE, [1, 'seen']);
      await inTransaction(orm, (em) => query(em, PROBE, [2, 'seen in a transaction']));
    } finally {
      knex.off('query', listener);
    }
    expect(seen.filter((s) => s === 'select $1::int + 1 as "n", $2::text as "label"')).toHaveLength(2);
  });
});

describe('DATABASE_URL', () => {
  it("reaches pg whole: its query parameters too (application_name; sslmode=require, which this server's lack of SSL refuses)", async () => {
    const named = await createOrm(`${db.url}?application_name=cw_url_probe`, { poolMax: 1 });
    try {
      expect(await query(named.em, "select current_setting('application_name') as \"a\", current_setting('plan_cache_mode') as \"p\"")).toEqual([
        { a: 'cw_url_probe', p: 'force_generic_plan' },
      ]);
    } finally {
      await named.close(true);
    }
    const tls = await createOrm(`${db.url}?sslmode=verify-full`, { poolMax: 1 });
    try {
      await expect(query(tls.em, 'select 1')).rejects.toThrow(/does not support SSL/);
    } finally {
      await tls.close(true);
    }
  });
});
