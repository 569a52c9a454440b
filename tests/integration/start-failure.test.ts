import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, createTestDatabase, dbUrl, withDb } from '../helpers/db.js';
import { spawnEntrypoint } from '../helpers/entrypoints.js';
import { admin, hourlySlot } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { deleteKeysUnder, REDIS_URL, tokenFor } from '../helpers/stack.js';

/**
 * A process that cannot start says why in one line naming the setting (src/start-failure.ts) and exits 1: no
 * stack trace of an unhandled rejection, no database created behind its back.
 */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const busy: net.Server[] = [];
const PREFIX = `sf${process.pid}`;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  for (const s of busy.splice(0)) await new Promise((r) => s.close(r));
});
afterAll(async () => {
  await db?.drop();
  // The processes it started made their queues' keys (BullMQ's meta) under its prefix.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeysUnder(redis, PREFIX);
  } finally {
    redis.disconnect();
  }
});

async function listening(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  busy.push(server);
  return server;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Runs the entrypoint to its end: its exit code, its JSON log lines and its stderr. */
async function start(entry: string, env: Record<string, string>) {
  const lines: Record<string, any>[] = [];
  const run = spawnEntrypoint(entry, { REDIS_URL, QUEUE_PREFIX: PREFIX, PORT: '0', DATABASE_URL: db.url, ...env }, (line) => {
    try {
      lines.push(JSON.parse(line));
    } catch {
      /* not a log line */
    }
  });
  const { code } = await run.exited;
  return { code, lines, stderr: run.stderr(), fatal: lines.find((l) => l.level === 60) };
}

describe('a process that cannot start', () => {
  it('names DATABASE_URL, with its password masked, when Postgres cannot be reached', async () => {
    const port = await closedPort();
    for (const entry of ['src/web.ts', 'workers/worker.ts']) {
      const run = await start(entry, { DATABASE_URL: `postgres://postgres:s3cret@127.0.0.1:${port}/coworking` });
      expect(run.code).toBe(1);
      expect(run.fatal?.msg).toBe(`Cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:${port}/coworking (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:${port}`);
      expect(JSON.stringify(run.lines)).not.toContain('s3cret');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('says a missing database is made by the release step, and does not create it', async () => {
    const name = `${db.name}_missing`;
    const run = await start('workers/scheduler.ts', { DATABASE_URL: dbUrl(name) });
    expect(run.code).toBe(1);
    expect(run.fatal?.msg).toMatch(/^The database of DATABASE_URL \(.*_missing\) does not exist: the release step creates it \(`npm run migrate`, from a build `node dist\/src\/db\/migrate\.js`; `npm start` runs it too\)$/);
    expect((await adminQuery('select 1 from pg_database where datname = $1', [name])).rowCount).toBe(0);
  });

  it('names PORT when its port is taken', async () => {
    const { port } = (await listening()).address() as net.AddressInfo;
    const run = await start('src/web.ts', { PORT: String(port) });
    expect(run.code).toBe(1);
    expect(run.fatal?.msg).toBe(`Cannot listen on 127.0.0.1:${port}: the port is in use (PORT)`);
  });

  it('names HEALTH_PORT when its port is taken, before the worker takes a job', async () => {
    const { port } = (await listening()).address() as net.AddressInfo;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const queue = new Queue(QUEUE_NAMES.commands, { connection: redis, prefix: PREFIX });
    try {
      const job = await queue.add('booking.create', { waiting: 'for a worker' });
      const run = await start('workers/worker.ts', { HEALTH_PORT: String(port) });
      expect(run.code).toBe(1);
      expect(run.fatal?.msg).toBe(`Cannot listen on 127.0.0.1:${port}: the port is in use (HEALTH_PORT)`);
      expect(run.lines.filter((l) => l.msg === 'worker started')).toEqual([]);
      expect(await job.getState()).toBe('waiting');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });

  it('lists every bad variable of the environment on stderr, without a stack trace', async () => {
    const run = await start('src/db/migrate.ts', { PORT: 'abc', DATABASE_POOL_MAX: '0' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Invalid configuration:\n {2}PORT: .+\n {2}DATABASE_POOL_MAX: .+\n$/);
  });
});

describe('a web process started while Redis is down', () => {
  it('answers what needs Redis with 503 at once, not when Redis returns', async () => {
    const lines: Record<string, any>[] = [];
    const redisPort = await closedPort();
    const web = spawnEntrypoint('src/web.ts', { REDIS_URL: `redis://127.0.0.1:${redisPort}`, QUEUE_PREFIX: PREFIX, PORT: '0', DATABASE_URL: db.url }, (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        /* not a log line */
      }
    });
    try {
      const port = (await until('the API to listen', () => lines.find((l) => typeof l.port === 'number'), 20_000, 50)).port as number;
      const base = `http://127.0.0.1:${port}/api/v1`;
      const headers = { authorization: `Bearer ${await tokenFor(admin)}`, 'content-type': 'application/json' };
      const post = (path: string, body: unknown) => fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      // Catalog writes need no Redis.
      const ws = await (await post('/workspaces', { name: 'Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 0 })).json();
      const space = await (
        await post(`/workspaces/${ws.id}/spaces`, { name: 'Desk', kind: 'desk', capacity: 1, hourlyRate: 100, dailyRate: 500, monthlyRate: 9000 })
      ).json();
      const create = await post('/booking/bookings', { spaceId: space.id, bookingType: 'hourly', ...hourlySlot(24) });
      expect(create.status).toBe(503);
      expect(create.headers.get('retry-after')).toBe('5');
      expect((await create.json()).error.code).toBe('service_unavailable');
      const job = await fetch(`${base}/jobs/${crypto.randomUUID()}`, { headers, signal: AbortSignal.timeout(10_000) });
      expect(job.status).toBe(503);
    } finally {
      web.child.kill('SIGKILL');
    }
  });
});

describe('a web process started on a database never migrated', () => {
  it('warns, reports not ready with every migration pending, and writes nothing into it', async () => {
    const empty = await createTestDatabase({ empty: true });
    const lines: Record<string, any>[] = [];
    const web = spawnEntrypoint('src/web.ts', { REDIS_URL, QUEUE_PREFIX: PREFIX, PORT: '0', DATABASE_URL: empty.url }, (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        /* not a log line */
      }
    });
    try {
      const port = (await until('the API to listen', () => lines.find((l) => typeof l.port === 'number'), 20_000, 50)).port as number;
      const warned = lines.find((l) => l.msg?.startsWith('migrations are pending'));
      expect(warned?.pending).toBeGreaterThan(0);
      const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
      expect(ready.checks.migrations).toBe(`down: ${warned.pending} pending`);
      const tables = await withDb(empty.url, async (c) => (await c.query("select count(*)::int as n from pg_tables where schemaname = 'public'")).rows[0].n);
      expect(tables).toBe(0);
    } finally {
      web.child.kill('SIGKILL');
      await web.exited;
      await empty.drop();
    }
  });
});
