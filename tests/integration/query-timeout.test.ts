import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrm, inTransaction, type Orm } from '../../src/db/orm.js';
import { isDatabaseUnavailable } from '../../src/db/pg-errors.js';
import { query } from '../../src/db/sql.js';
import { createTestDatabase, withDb } from '../helpers/db.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/**
 * DATABASE_QUERY_TIMEOUT_MS (src/db/query-timeout.ts): a Postgres that stops answering on an open connection
 * fails the query as an outage, and the connection it hung on is never handed out again.
 */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let orm: Orm;

beforeAll(async () => {
  db = await createTestDatabase();
  const direct = new URL(db.url);
  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  // One connection, so the transaction after a timeout is offered the same connection if it is kept.
  orm = await createOrm(viaProxy.toString(), { poolMax: 1, queryTimeoutMs: 500 });
  await withDb(db.url, (c) => c.query('create table probe (id int primary key)'));
});
afterAll(async () => {
  proxy?.up();
  await orm?.close(true);
  await proxy?.close();
  await db?.drop();
});

const ids = () => withDb(db.url, async (c) => (await c.query<{ id: number }>('select id from probe order by id')).rows.map((r) => r.id));

describe('a Postgres that stops answering on an open connection', () => {
  it('fails the query as an outage once the timeout passes', async () => {
    expect(await query(orm.em, 'select 1 as "n"')).toEqual([{ n: 1 }]);
    proxy.freeze();
    try {
      const err = await query(orm.em, 'select 2 as "n"').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(err)).toBe(true);
    } finally {
      proxy.release();
    }
    expect(await query(orm.em, 'select 3 as "n"')).toEqual([{ n: 3 }]);
  });

  it('leaves nothing of a transaction it cut to the next one on the pool', async () => {
    const em = orm.em.fork();
    await em.begin();
    await query(em, 'insert into probe values (1)');
    proxy.freeze();
    try {
      const err = await query(em, 'insert into probe values (2)').catch((e: unknown) => e);
      expect(isDatabaseUnavailable(err)).toBe(true);
      // Its ROLLBACK cannot reach the frozen server either.
      await em.rollback().catch(() => undefined);
    } finally {
      proxy.release();
    }
    // Kept, the connection would run the held insert, skip the ROLLBACK pg dropped on its timeout, and commit
    // this transaction's BEGIN (a no-op inside the open one) together with rows 1 and 2.
    await inTransaction(orm, (next) => query(next, 'insert into probe values (3)'));
    expect(await ids()).toEqual([3]);
  });
});
