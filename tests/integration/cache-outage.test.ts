import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnEntrypoint } from '../helpers/entrypoints.js';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, REDIS_URL, startStack, type Stack } from '../helpers/stack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/**
 * A cache Redis of its own (CACHE_REDIS_URL) that goes away: the real worker process (`workers/worker.ts`) must not
 * hold its jobs until it returns. An eviction it cannot make fails the attempt, which is retried with backoff; the
 * worker's /readyz says the cache is down; once it is back, the command completes.
 */
let stack: Stack;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let worker: ChildProcess | undefined;
let healthPort: number;
let spaceId: string;
const member = makeUser('member');

beforeAll(async () => {
  const redis = new URL(REDIS_URL);
  proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  stack = await startStack({ worker: false });
  spaceId = (await seedSpace(stack)).space.id;
  const lines: Record<string, any>[] = [];
  const spawned = spawnEntrypoint(
    'workers/worker.ts',
    {
      DATABASE_URL: stack.config.db.url,
      REDIS_URL,
      CACHE_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      QUEUE_PREFIX: stack.config.queue.prefix,
      COMMAND_BACKOFF_MS: '200',
      COMMAND_ATTEMPTS: '20',
    },
    (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        /* not a log line */
      }
    },
  );
  worker = spawned.child;
  healthPort = (await until(`worker start (stderr: ${spawned.stderr().slice(-500)})`, () => lines.find((l) => typeof l.healthPort === 'number'), 20_000, 50)).healthPort;
});
afterAll(async () => {
  proxy?.up();
  worker?.kill('SIGKILL');
  await stack?.close();
  await proxy?.close();
});

const readiness = async () => {
  const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
};

describe('the cache Redis down under a worker', () => {
  it('retries the eviction with backoff instead of holding the job, reports not ready, and completes once it is back', async () => {
    expect((await readiness()).body.checks.cache).toBe('ok');
    proxy.down();
    const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(30) } });
    expect(res.status).toBe(202);
    // Committed, but not completed while the cache cannot be evicted: the attempt fails and is retried.
    const retried = await until('an attempt of the job to fail', async () => ((await stack.queues.commands.getJob(res.body.jobId))?.attemptsMade ?? 0) >= 2, 30_000, 100);
    expect(retried).toBe(true);
    expect(await stack.queues.commands.getJobState(res.body.jobId)).not.toBe('completed');
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.checks.cache).toMatch(/^down/);

    proxy.up();
    expect((await waitForJob(stack, member, res.body.jobId, 30_000)).state).toBe('completed');
    await until('the worker to report ready again', async () => (await readiness()).status === 200, 20_000, 200);
  });
});
