/**
 * Follow-ups throughput: events/s from outbox rows → `notifications` jobs (the relay's publish path: locked batches,
 * addBulk, marked published) → Notification rows and each event's email (sent by the event's job), next to the raw BullMQ rate of no-op
 * jobs measured in the same process, against the same Redis, with the same concurrency, interleaved run by run.
 * The ratio is the figure: how much of the queue's bare speed the follow-up pipeline keeps.
 *
 *   npx tsx bench/follow-ups.bench.ts [--quick]     (or through `npm run bench`, which imports benchFollowUps)
 */
import { Queue, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createOrm } from '../src/db/orm.js';
import { createEmailChannel } from '../src/follow-ups/email.js';
import { relayOutbox } from '../src/follow-ups/outbox.js';
import { isBookingEventType, type BookingEventPayload } from '../src/jobs/catalogue.js';
import { createNotificationWorker } from '../src/jobs/notification.worker.js';
import { createQueues, closeQueues } from '../src/jobs/queues.js';
import { createLogger } from '../src/logger.js';
import { createRedis } from '../src/redis.js';
import { log, waitUntil } from './lib.js';
import { createBenchEnv } from './setup.js';
import { fmt, ratio, renderTable, stat, type Row } from './table.js';

export type { Row };

/** Resolves when `count()` reaches `target`; rejects after `timeoutMs`. Driven by worker events, not timers. */
function counter() {
  let n = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  return {
    bump() {
      n++;
      if (waiter && n >= waiter.target) {
        waiter.resolve();
        waiter = undefined;
      }
    },
    reset: () => void (n = 0),
    until(target: number, what: string, timeoutMs: number): Promise<void> {
      if (n >= target) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bench: timed out waiting for ${target} ${what} (saw ${n})`)), timeoutMs);
        waiter = { target, resolve: () => (clearTimeout(timer), resolve()) };
      });
    },
  };
}

export async function benchFollowUps(opts: { quick: boolean }): Promise<Row[]> {
  const events = opts.quick ? 400 : 2000;
  const runs = opts.quick ? 3 : 5;
  const env = await createBenchEnv();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: env.dbUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.prefix,
    LOG_LEVEL: 'silent',
    DATABASE_POOL_MAX: '12',
  });
  const concurrency = config.queue.notificationConcurrency;
  const logger = createLogger(config, 'bench');
  const orm = await createOrm(config.db.url, { poolMax: config.db.poolMax, queryTimeoutMs: config.db.queryTimeoutMs });
  const producer = createRedis(config.redis.url, 'worker');
  const workerConnection = createRedis(config.redis.url, 'worker');
  const queues = createQueues(producer, config.queue);
  const noopQueue = new Queue('bench-noop', { connection: producer, prefix: config.queue.prefix });
  const mailer = createEmailChannel(config, logger);
  const closers: (() => Promise<unknown>)[] = [];

  try {
    // One member with a workspace and a space: the events' subjects (notifications reference the user).
    const ids = { workspace: randomUUID(), space: randomUUID(), user: randomUUID() };
    await env.pool.query(`insert into workspaces values ($1, 'Bench hub', 'UTC', 'EUR', 1900, now(), now())`, [ids.workspace]);
    await env.pool.query(
      `insert into spaces (id, workspace_id, name, kind, capacity, hourly_rate, daily_rate, monthly_rate, active, created_at, updated_at)
       values ($1, $2, 'Room 1', 'meeting_room', 6, 1500, 9000, 150000, true, now(), now())`,
      [ids.space, ids.workspace],
    );
    await env.pool.query(`insert into users values ($1, 'bench@example.test', 'Bench Member', 'member', now(), now())`, [ids.user]);
    const payload: BookingEventPayload = {
      bookingId: randomUUID(),
      workspaceId: ids.workspace,
      workspaceName: 'Bench hub',
      spaceId: ids.space,
      spaceName: 'Room 1',
      userId: ids.user,
      userEmail: 'bench@example.test',
      userName: 'Bench Member',
      status: 'confirmed',
      startsAt: '2030-01-07T09:00:00.000Z',
      endsAt: '2030-01-07T10:00:00.000Z',
      timestamp: new Date().toISOString(),
    };

    // Raw BullMQ: no-op jobs, same concurrency, same retention options.
    const noopDone = counter();
    const noopWorker = new Worker('bench-noop', async () => undefined, { connection: workerConnection, prefix: config.queue.prefix, concurrency });
    noopWorker.on('completed', () => noopDone.bump());
    closers.push(() => noopWorker.close());

    // The real notifications worker (event → Notification row + its email, through the log transport, logger silent;
    // an email whose first attempt fails gets an email.send job of its own).
    const rowsDone = counter();
    const notifications = createNotificationWorker({ orm, connection: workerConnection, config, logger, queues, mailer });
    notifications.on('completed', (job) => isBookingEventType(job.name) && rowsDone.bump());
    notifications.on('failed', (job, err) => log(`follow-ups bench: ${job?.name} failed: ${err.message}`));
    closers.push(() => notifications.close());
    await Promise.all([noopWorker.waitUntilReady(), notifications.waitUntilReady()]);

    const timeoutMs = 120_000;
    const noopRun = async (n: number): Promise<number> => {
      noopDone.reset();
      const started = performance.now();
      for (let i = 0; i < n; i += 1000) {
        await noopQueue.addBulk(
          Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'noop', data: { outboxId: randomUUID() }, opts: { removeOnComplete: { age: 3600, count: 10_000 } } })),
        );
      }
      await noopDone.until(n, 'no-op jobs', timeoutMs);
      return n / ((performance.now() - started) / 1000);
    };

    const pipelineRun = async (n: number): Promise<{ rows: number; emails: number }> => {
      rowsDone.reset();
      // The backlog: n committed, unpublished events (as if n commands committed and their publish never ran).
      await env.pool.query(
        `insert into outbox (id, event_type, aggregate_id, payload, command_id, created_at, published_at, attempts)
         select gen_random_uuid(), 'BOOKING_CONFIRMED', $1, $2::jsonb, null, now() - interval '1 minute', null, 0 from generate_series(1, $3)`,
        [payload.bookingId, JSON.stringify(payload), n],
      );
      const started = performance.now();
      const published = await relayOutbox({ orm, queues, config }, new Date());
      if (published !== n) throw new Error(`bench: relay published ${published} of ${n}`);
      await rowsDone.until(n, 'notification rows', timeoutMs);
      const rowsSeconds = (performance.now() - started) / 1000;
      // Every email recorded sent, however it went (in its event's job, or in a retry job of its own).
      const sentEmails = async () => Number((await env.pool.query<{ c: string }>(`select count(*)::text as c from email_sends where status = 'sent'`)).rows[0]!.c);
      await waitUntil(`${n} emails recorded sent`, async () => (await sentEmails()) >= n, timeoutMs, 5);
      const emailsSeconds = (performance.now() - started) / 1000;
      const { rows } = await env.pool.query<{ c: string }>('select count(*)::text as c from notifications');
      if (Number(rows[0]!.c) < n) throw new Error(`bench: expected ${n} notification rows, found ${rows[0]!.c}`);
      // Start every run from empty tables, so runs are alike.
      await env.pool.query('truncate notifications, email_sends, outbox');
      return { rows: n / rowsSeconds, emails: n / emailsSeconds };
    };

    log(`follow-ups: warm-up, then ${runs} × (${events} no-op jobs, ${events} events), concurrency ${concurrency}`);
    await noopRun(Math.min(200, events));
    await pipelineRun(Math.min(200, events));
    const noop: number[] = [];
    const rows: number[] = [];
    const emails: number[] = [];
    for (let i = 0; i < runs; i++) {
      noop.push(await noopRun(events));
      const p = await pipelineRun(events);
      rows.push(p.rows);
      emails.push(p.emails);
      log(`follow-ups run ${i + 1}/${runs}: no-op ${noop.at(-1)!.toFixed(0)} jobs/s, rows ${p.rows.toFixed(0)} events/s, with email ${p.emails.toFixed(0)} events/s`);
    }
    const base = stat(noop);
    const note = `${events} events × ${runs} runs (interleaved with the no-op runs), worker concurrency ${concurrency}, relay batches of ${config.followUps.relayBatch}`;
    return [
      {
        figure: 'Follow-ups: outbox → notification jobs → notification rows',
        value: fmt(stat(rows), 'events/s'),
        baseline: `BullMQ no-op jobs ${fmt(base, 'jobs/s')}`,
        ratio: ratio(stat(rows).median, base.median),
        note: `${note}; each event's job also sends its member's email (a job of its own only for a retry)`,
      },
      {
        figure: 'Follow-ups: … until every event’s email is sent and recorded',
        value: fmt(stat(emails), 'events/s'),
        baseline: `BullMQ no-op jobs ${fmt(base, 'jobs/s')}`,
        ratio: ratio(stat(emails).median, base.median),
        note: 'one job per event (its email sent inside it; counted from email_sends); email via the log transport (nodemailer JSON), logger silent',
      },
    ];
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    mailer.close();
    await noopQueue.close().catch(() => undefined);
    await closeQueues(queues, producer).catch(() => undefined);
    await orm.close().catch(() => undefined);
    producer.disconnect();
    workerConnection.disconnect();
    await env.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchFollowUps({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${renderTable(rows)}\n`);
}
