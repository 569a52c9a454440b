import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createOrm, migrate, type Orm } from '../../src/db/orm.js';
import { adminQuery, createTestDatabase } from '../helpers/db.js';

/** What MikroORM and knex print goes through the process's pino logger (createOrm's logger): JSON lines. */
type Line = { level: number; msg: string; orm?: string };

function capture() {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk)) as Line), done()) }));
  return { lines, logger };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('ORM logging', () => {
  it("the migrator's lines are JSON lines of the given logger, one per migration applied, none on the console", async () => {
    // An empty database (not the migrated template), so every migration is applied here.
    const db = await createTestDatabase({ empty: true });
    cleanups.push(db.drop);
    const { lines, logger } = capture();
    const consoleLog = vi.spyOn(console, 'log');
    let orm: Orm | undefined;
    try {
      orm = await createOrm(db.url, { poolMax: 2, logger });
      const applied = await migrate(orm);
      expect(applied.length).toBeGreaterThan(0);
      const migrator = lines.filter((l) => l.orm === 'migrator');
      expect(migrator.filter((l) => l.msg.startsWith('Applied ')).map((l) => l.msg)).toEqual(applied.map((m) => `Applied '${m}'`));
      expect(migrator.every((l) => l.level === 30)).toBe(true);
      expect(consoleLog.mock.calls.filter((args) => String(args[0]).includes('[migrator]'))).toEqual([]);
    } finally {
      consoleLog.mockRestore();
      await orm?.close(true);
    }
  });

  it('a pooled connection that Postgres ended is a JSON warning (knex), and the next query gets a new one', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const { lines, logger } = capture();
    const orm = await createOrm(db.url, { poolMax: 1, logger });
    cleanups.push(() => orm.close(true));
    const connection = orm.em.getConnection();
    const pid = async () => ((await connection.execute('select pg_backend_pid() as pid')) as { pid: number }[])[0]!.pid;
    const first = await pid();
    await adminQuery('select pg_terminate_backend($1)', [first]);
    // Until the pooled client has seen its socket end, the pool may still hand it out (and that query fails): retried.
    await vi.waitFor(async () => expect(await pid()).not.toBe(first));
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, orm: 'knex', msg: expect.stringMatching(/^Connection Error: /) }));
  });
});
