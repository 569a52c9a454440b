import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeCommand } from '../../src/commands/run-command.js';
import {
  BookingSchema,
  EmailSendSchema,
  GuestSchema,
  NotificationSchema,
  OutboxSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from '../../src/db/entities/index.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import type { EmailChannel } from '../../src/follow-ups/email.js';
import { handleBookingEvent, sendEmail } from '../../src/follow-ups/notification.handlers.js';
import { publishOutbox, pruneOutbox, PublishMarks, relayOutbox } from '../../src/follow-ups/outbox.js';
import { verifyWebhookSignature } from '../../src/follow-ups/webhooks.js';
import { emailRecipientKey, notificationJobId, type BookingEventPayload, type BookingEventType } from '../../src/jobs/catalogue.js';
import { createMaintenanceWorker, registerSchedulers } from '../../src/jobs/maintenance.worker.js';
import { runSweep } from '../../src/maintenance/sweeps.js';
import { createLogger } from '../../src/logger.js';
import { createRedis } from '../../src/redis.js';
import { act, admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { recordingMailer, startReceiver, until } from '../helpers/follow-ups.js';
import { makeUser, startStack, type Stack, type TestUser } from '../helpers/stack.js';

let stack: Stack;
const mail = recordingMailer({ failFor: /^bounce-/, failFirst: /^flaky-/ });
const member = makeUser('member');
const staff = makeUser('staff');
const receivers: { close: () => Promise<void> }[] = [];

beforeAll(async () => {
  stack = await startStack({
    notifications: { mailer: mail.channel },
    env: {
      NOTIFICATION_BACKOFF_MS: '10',
      EMAIL_ATTEMPTS: '3',
      EMAIL_BACKOFF_MS: '10',
      WEBHOOK_ATTEMPTS: '5',
      WEBHOOK_BACKOFF_MS: '10',
      WEBHOOK_TIMEOUT_MS: '3000',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await Promise.all(receivers.map((r) => r.close()));
});

const em = () => stack.orm.em.fork();
const outboxDeps = () => ({ orm: stack.orm, queues: stack.queues, config: stack.config });

async function receiver(status?: (n: number) => number) {
  const r = await startReceiver(status);
  receivers.push(r);
  return r;
}

async function registerWebhook(workspaceId: string, url: string, eventTypes: BookingEventType[], secret = `whsec-${randomUUID()}`) {
  const res = await stack.request('POST', `/api/v1/workspaces/${workspaceId}/webhooks`, { as: admin, body: { url, secret, eventTypes } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, secret };
}

async function bookAndWait(user: TestUser, spaceId: string, hoursAhead: number): Promise<string> {
  const res = await createBooking(stack, user, spaceId, hourlySlot(hoursAhead));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.state).toBe('completed');
  return res.body.result.bookingId as string;
}

const outboxOf = (bookingId: string, eventType: BookingEventType) => em().findOneOrFail(OutboxSchema, { aggregateId: bookingId, eventType });

async function jobState(id: string) {
  const job = await stack.queues.notifications.getJob(id);
  return job ? { state: await job.getState(), returnvalue: job.returnvalue as { outcome?: string } | null } : undefined;
}
const completed = (id: string) => until(`job ${id} completed`, async () => ((await jobState(id))?.state === 'completed' ? jobState(id) : undefined));

/**
 * The notification handlers' deps on an ORM of their own (their statements counted apart from the running workers'),
 * with a queue that records the jobs it is given. Close the ORM after.
 */
async function handlersAlone(opts: { mailer?: EmailChannel; marks?: (orm: Orm) => PublishMarks } = {}) {
  const orm = await createOrm(stack.config.db.url, { poolMax: 2 });
  const bulks: { name: string; data: unknown; opts: { jobId?: string } }[][] = [];
  const queue = { addBulk: async (jobs: (typeof bulks)[number]) => void bulks.push(jobs) };
  const marks = opts.marks?.(orm);
  const deps = { orm, queues: { notifications: queue, deadLetter: queue }, config: stack.config, logger: createLogger(stack.config, 'test'), mailer: opts.mailer ?? mail.channel, marks };
  return { orm, bulks, marks, deps: deps as never };
}

describe('publishing: after commit, and the relay', () => {
  it('publishes a command’s events right after commit with jobId outbox-<id> and marks them published', async () => {
    const { space } = await seedSpace(stack);
    const bookingId = await bookAndWait(member, space.id, 30);
    // The mark is written shortly after the job completed (with the marks of the commands around it): write it now.
    await stack.marks.flush();
    const row = await outboxOf(bookingId, 'BOOKING_CREATED');
    expect(row.publishedAt).toBeInstanceOf(Date);
    const job = await stack.queues.notifications.getJob(notificationJobId.event(row.id));
    expect(job).toMatchObject({ id: `outbox-${row.id}`, name: 'BOOKING_CREATED', data: { outboxId: row.id, payload: { bookingId } } });
    expect(job!.id).not.toContain(':');
  });

  it('published marks of several commands are written by one statement, and a pending one by close()', async () => {
    const { space } = await seedSpace(stack);
    const rows = [];
    for (const hours of [31, 32, 33]) rows.push(await outboxOf(await bookAndWait(member, space.id, hours), 'BOOKING_CREATED'));
    await stack.marks.flush();
    // Unmark them, then mark them again through marks that wait a minute unless flushed.
    await em().nativeUpdate(OutboxSchema, { id: { $in: rows.map((r) => r.id) } }, { publishedAt: null });
    const errors: unknown[] = [];
    const marks = new PublishMarks(stack.orm, 60_000, (err) => errors.push(err));
    marks.add([rows[0]!.id]);
    marks.add([rows[1]!.id, rows[2]!.id]);
    expect(marks.pending).toBe(3);
    expect(await em().count(OutboxSchema, { id: { $in: rows.map((r) => r.id) }, publishedAt: null })).toBe(3);
    await marks.flush();
    const marked = await em().find(OutboxSchema, { id: { $in: rows.map((r) => r.id) } });
    expect(new Set(marked.map((r) => r.publishedAt?.toISOString())).size).toBe(1); // one statement, one timestamp
    expect(marked.every((r) => r.publishedAt instanceof Date)).toBe(true);

    await em().nativeUpdate(OutboxSchema, { id: rows[0]!.id }, { publishedAt: null });
    marks.add([rows[0]!.id]);
    await marks.close();
    expect((await em().findOneOrFail(OutboxSchema, rows[0]!.id)).publishedAt).toBeInstanceOf(Date);
    expect(errors).toEqual([]);
  });

  it('a mark that cannot be written is reported, never thrown: its rows stay for the relay', async () => {
    const { space } = await seedSpace(stack);
    const row = await outboxOf(await bookAndWait(member, space.id, 34), 'BOOKING_CREATED');
    await stack.marks.flush();
    await em().nativeUpdate(OutboxSchema, { id: row.id }, { publishedAt: null });
    const failed: (readonly string[])[] = [];
    const marks = new PublishMarks(stack.orm, 60_000, (_err, ids) => failed.push(ids));
    marks.add(['not-a-uuid', row.id]); // the whole statement fails on the cast
    await marks.flush();
    expect(failed).toEqual([['not-a-uuid', row.id]]);
    expect((await em().findOneOrFail(OutboxSchema, row.id)).publishedAt).toBeNull();
    const later = new Date(row.createdAt.getTime() + stack.config.followUps.relayGraceMs + 1000);
    expect(await relayOutbox(outboxDeps(), later)).toBeGreaterThanOrEqual(1);
    expect((await em().findOneOrFail(OutboxSchema, row.id)).publishedAt).toBeInstanceOf(Date);
  });

  it('the worker dies after commit, before publishing: the relay delivers the event (and not before its grace period)', async () => {
    const { space } = await seedSpace(stack);
    await stack.request('GET', '/api/v1/workspaces', { as: member }); // upserts the user
    const bookingId = randomUUID();
    // The fault: the command commits, but its after-commit publish never runs (no hooks: the process "died").
    const outcome = await executeCommand(stack.orm, {
      id: `crash-${randomUUID()}`,
      name: 'booking.create',
      data: {
        actor: { id: member.id, role: 'member' },
        requestedAt: new Date().toISOString(),
        bookingId,
        spaceId: space.id,
        bookingType: 'hourly',
        ...hourlySlot(40),
        attendees: 1,
        notes: null,
      },
    });
    expect(outcome.outcome).toBe('completed');
    const row = await outboxOf(bookingId, 'BOOKING_CREATED');
    expect(row.publishedAt).toBeNull();
    expect(await stack.queues.notifications.getJob(notificationJobId.event(row.id))).toBeUndefined();

    // Younger than the grace period: left to its command's own after-commit step.
    expect(await relayOutbox(outboxDeps(), new Date(row.createdAt.getTime() + 1000))).toBe(0);
    expect((await em().findOneOrFail(OutboxSchema, row.id)).publishedAt).toBeNull();

    const later = new Date(row.createdAt.getTime() + stack.config.followUps.relayGraceMs + 1000);
    expect(await relayOutbox(outboxDeps(), later)).toBeGreaterThanOrEqual(1);
    expect((await em().findOneOrFail(OutboxSchema, row.id)).publishedAt).toBeInstanceOf(Date);
    const n = await until('the relayed notification', () => em().findOne(NotificationSchema, { outboxId: row.id }));
    expect(n).toMatchObject({ userId: member.id, type: 'BOOKING_CREATED' });
    await until('the relayed email', () => mail.sentFor(row.id).length === 1);
    // Nothing left to relay.
    expect(await em().count(OutboxSchema, { publishedAt: null, createdAt: { $lte: later } })).toBe(0);
  });

  it('the scheduler runs the relay as a job scheduler on the maintenance queue', async () => {
    const { space } = await seedSpace(stack);
    await stack.request('GET', '/api/v1/workspaces', { as: member });
    const bookingId = randomUUID();
    await executeCommand(stack.orm, {
      id: `crash-${randomUUID()}`,
      name: 'booking.create',
      data: { actor: { id: member.id, role: 'member' }, requestedAt: new Date().toISOString(), bookingId, spaceId: space.id, bookingType: 'hourly', ...hourlySlot(44), attendees: 1, notes: null },
    });
    const row = await outboxOf(bookingId, 'BOOKING_CREATED');

    const config = { ...stack.config, followUps: { ...stack.config.followUps, relayEveryMs: 200, relayGraceMs: 0 } };
    const connection = createRedis(config.redis.url, 'worker');
    const logger = createLogger(config, 'test-scheduler');
    const worker = createMaintenanceWorker({ orm: stack.orm, connection, config, logger, queues: stack.queues });
    try {
      await registerSchedulers(stack.queues.maintenance, 3_600_000, config.followUps);
      const schedulers = await stack.queues.maintenance.getJobSchedulers();
      expect(schedulers.map((s) => s.name)).toEqual(expect.arrayContaining(['outbox.relay', 'outbox.prune']));
      await until('the scheduled relay to publish the row', async () => (await em().findOneOrFail(OutboxSchema, row.id)).publishedAt);
      await until('its notification', () => em().findOne(NotificationSchema, { outboxId: row.id }));
    } finally {
      for (const s of await stack.queues.maintenance.getJobSchedulers()) await stack.queues.maintenance.removeJobScheduler(s.key);
      await worker.close();
      await connection.quit();
    }
  });

  it('prunes published rows older than the retention, never unpublished ones', async () => {
    const now = Date.now();
    const day = 86_400_000;
    const row = (publishedAt: Date | null, createdAt: Date) => ({
      id: randomUUID(),
      eventType: 'BOOKING_CREATED',
      aggregateId: randomUUID(),
      payload: {},
      commandId: null,
      createdAt,
      publishedAt,
      attempts: 0,
    });
    const old = row(new Date(now - 8 * day), new Date(now - 8 * day));
    const recent = row(new Date(now - 3_600_000), new Date(now - 3_600_000));
    const stuck = row(null, new Date(now - 30 * day));
    const fork = em();
    for (const r of [old, recent, stuck]) fork.create(OutboxSchema, r);
    await fork.flush();

    expect(await pruneOutbox(stack.orm, stack.config.followUps.retentionSeconds)).toBeGreaterThanOrEqual(1);
    expect(await em().findOne(OutboxSchema, old.id)).toBeNull();
    expect(await em().findOne(OutboxSchema, recent.id)).not.toBeNull();
    expect(await em().findOne(OutboxSchema, stuck.id)).not.toBeNull();
    expect(stack.config.followUps.retentionSeconds).toBe(7 * 24 * 3600);
    // Batched, and idempotent.
    expect(await pruneOutbox(stack.orm, stack.config.followUps.retentionSeconds, new Date(), 1)).toBe(0);
    // (The stuck row is the relay's business, not pruning's; it is not a real event, so it goes.)
    await em().nativeDelete(OutboxSchema, { id: stuck.id });
  });
});

describe('exactly one effect per event', () => {
  it('an event published twice → one notification, one email, one webhook delivery per endpoint', async () => {
    const { workspace, space } = await seedSpace(stack);
    const [a, b] = [await receiver(), await receiver()];
    const endpointA = await registerWebhook(workspace.id, a.url, ['BOOKING_CREATED']);
    const endpointB = await registerWebhook(workspace.id, b.url, ['BOOKING_CREATED', 'BOOKING_CONFIRMED']);

    const bookingId = await bookAndWait(member, space.id, 50);
    const row = await outboxOf(bookingId, 'BOOKING_CREATED');
    const emailJob = notificationJobId.email(row.id, member.id);
    const hookJobs = [notificationJobId.webhook(row.id, endpointA.id), notificationJobId.webhook(row.id, endpointB.id)];
    // The email went out in the event's own job: no email job of its own.
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ outcome: 'created', emails: 1, emailsRetried: 0, webhooks: 2 });
    expect(await stack.queues.notifications.getJob(emailJob)).toBeUndefined();
    for (const id of hookJobs) await completed(id);
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);

    const effects = async () => ({
      notifications: await em().count(NotificationSchema, { outboxId: row.id }),
      emailsRecorded: await em().count(EmailSendSchema, { outboxId: row.id, status: 'sent' }),
      emailsSent: mail.sentFor(row.id).length,
      deliveries: (await em().find(WebhookDeliverySchema, { outboxId: row.id }, { orderBy: { endpointId: 'asc' } })).map((d) => ({
        endpointId: d.endpointId,
        status: d.status,
        attempts: d.attempts,
      })),
      received: [a.requests.length, b.requests.length],
    });
    const first = await effects();
    expect(first).toMatchObject({ notifications: 1, emailsRecorded: 1, emailsSent: 1, received: [1, 1] });
    expect(first.deliveries).toHaveLength(2);
    expect(first.deliveries.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);

    // 1. Published again while BullMQ still holds the jobs: the job ids deduplicate, nothing runs.
    await stack.marks.flush(); // the worker's deferred published mark, else it may land after the unmarking below
    await em().nativeUpdate(OutboxSchema, { id: row.id }, { publishedAt: null });
    expect(await publishOutbox(outboxDeps(), [row.id])).toBe(1);
    expect(await relayOutbox(outboxDeps(), new Date(Date.now() + 3_600_000))).toBe(0);

    // 2. Published again after BullMQ forgot every job: the handlers run again and find their effects recorded.
    for (const id of [notificationJobId.event(row.id), emailJob, ...hookJobs]) await (await stack.queues.notifications.getJob(id))?.remove();
    await em().nativeUpdate(OutboxSchema, { id: row.id }, { publishedAt: null });
    expect(await publishOutbox(outboxDeps(), [row.id])).toBe(1);
    // The email is found recorded `sent`: not sent again, and not handed to a job either.
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ outcome: 'exists', emails: 1, emailsRetried: 0, webhooks: 2 });
    expect(await stack.queues.notifications.getJob(emailJob)).toBeUndefined();
    for (const id of hookJobs) expect((await completed(id)).returnvalue).toMatchObject({ outcome: 'skipped', reason: 'already delivered' });

    expect(await effects()).toEqual(first);
  });

  it('a webhook receiver that fails twice then succeeds: delivered once, 3 attempts recorded, the signature verifies', async () => {
    const { workspace, space } = await seedSpace(stack);
    const r = await receiver((n) => (n <= 2 ? 503 : 200));
    const endpoint = await registerWebhook(workspace.id, r.url, ['BOOKING_CONFIRMED']);

    const bookingId = await bookAndWait(member, space.id, 60);
    expect((await act(stack, staff, bookingId, 'confirm')).body).toMatchObject({ state: 'completed', result: { status: 'confirmed' } });
    const row = await outboxOf(bookingId, 'BOOKING_CONFIRMED');

    const delivery = await until('the delivery to succeed', async () => {
      const d = await em().findOne(WebhookDeliverySchema, { endpointId: endpoint.id, outboxId: row.id });
      return d?.status === 'delivered' ? d : undefined;
    });
    expect(delivery).toMatchObject({ attempts: 3, statusCode: 200, eventType: 'BOOKING_CONFIRMED', lastError: null });
    expect(delivery.deliveredAt).toBeInstanceOf(Date);
    await completed(notificationJobId.webhook(row.id, endpoint.id));
    expect(r.requests).toHaveLength(3);
    // Only the subscribed event type: the booking's BOOKING_CREATED was not sent here.
    expect(await em().count(WebhookDeliverySchema, { endpointId: endpoint.id })).toBe(1);

    for (const req of r.requests) {
      expect(req.method).toBe('POST');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['x-webhook-id']).toBe(row.id);
      const timestamp = req.headers['x-webhook-timestamp'] as string;
      const signature = req.headers['x-webhook-signature'] as string;
      // Verified independently of the service's code, as a receiver would…
      expect(signature).toBe(`sha256=${createHmac('sha256', endpoint.secret).update(`${timestamp}.${req.body}`).digest('hex')}`);
      // …and with the helper the README shows; a wrong secret or a tampered body fails.
      expect(verifyWebhookSignature(endpoint.secret, { timestamp, signature }, req.body)).toBe(true);
      expect(verifyWebhookSignature('another-secret-0123456789', { timestamp, signature }, req.body)).toBe(false);
      expect(verifyWebhookSignature(endpoint.secret, { timestamp, signature }, req.body.replace('BOOKING', 'BOOKINK'))).toBe(false);
      expect(JSON.parse(req.body)).toMatchObject({ id: row.id, type: 'BOOKING_CONFIRMED', data: { bookingId, status: 'confirmed', userId: member.id } });
    }
    // Retries send the same bytes.
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);

    // The admin sees it, with attempts and final status; the secret is nowhere in Redis job data.
    const list = await stack.request('GET', `/api/v1/webhooks/${endpoint.id}/deliveries`, { as: admin });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ page: 1, pageSize: 10, total: 1, items: [{ eventId: row.id, status: 'delivered', attempts: 3, statusCode: 200 }] });
    const job = await stack.queues.notifications.getJob(notificationJobId.webhook(row.id, endpoint.id));
    expect(JSON.stringify(job!.data)).not.toContain(endpoint.secret);
  });

  /**
   * A booking by a member whose address the test mailer refuses (`bounce-…`: always; `flaky-…`: the first time): the
   * event job completes and hands the email over to a job of its own.
   */
  async function bookWithRetriedEmail(kind: 'bounce' | 'flaky', hoursAhead: number) {
    const { space } = await seedSpace(stack);
    const user = { ...makeUser('member'), email: `${kind}-${randomUUID().slice(0, 8)}@example.test` };
    const row = await outboxOf(await bookAndWait(user, space.id, hoursAhead), 'BOOKING_CREATED');
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ outcome: 'created', emails: 1, emailsRetried: 1 });
    return { user, row, emailJob: notificationJobId.email(row.id, user.id) };
  }

  it('an email that keeps failing lands on the dead-letter queue after its last attempt', async () => {
    // Its first attempt, in the event's job, is refused; the email's own job then fails all its attempts
    // (EMAIL_ATTEMPTS = 3 here).
    const { row, emailJob } = await bookWithRetriedEmail('bounce', 70);
    const letter = await until('the dead letter', () => stack.queues.deadLetter.getJob(notificationJobId.deadLetter(emailJob)));
    expect(letter).toMatchObject({ name: 'email.send', data: { queue: 'notifications', jobId: emailJob, attemptsMade: 3 } });
    expect(letter.data.failedReason).toMatch(/550 mailbox unavailable/);
    await until('the email job to be failed', async () => (await jobState(emailJob))?.state === 'failed');
    expect(mail.refused.filter((m) => m.headers?.['X-Event-Id'] === row.id)).toHaveLength(1 + 3);
    expect(await em().findOne(EmailSendSchema, { outboxId: row.id })).toMatchObject({ status: 'failed', attempts: 1 + 3, lastError: expect.stringMatching(/550/) });
    // The in-app notification does not depend on the email.
    expect(await em().count(NotificationSchema, { outboxId: row.id })).toBe(1);
  });

  it('an email refused at its first attempt (the event\'s job) is sent by its own retry job, once', async () => {
    const { row, emailJob, user: flaky } = await bookWithRetriedEmail('flaky', 72);
    expect((await completed(emailJob)).returnvalue).toMatchObject({ outcome: 'sent', attempts: 2 });
    expect(mail.refused.filter((m) => m.headers?.['X-Event-Id'] === row.id)).toHaveLength(1);
    expect(mail.sentFor(row.id).map((m) => m.to)).toEqual([flaky.email]);
    expect(await em().findOne(EmailSendSchema, { outboxId: row.id })).toMatchObject({ status: 'sent', attempts: 2, lastError: null });
    expect(await stack.queues.deadLetter.getJob(notificationJobId.deadLetter(emailJob))).toBeUndefined();
  });
  it('an event job whose data Postgres refuses fails on its first attempt and is dead-lettered, not retried', async () => {
    // A payload the API never sends (its tokens' emails are at most 320 characters, the column's width), added
    // straight to the queue: every attempt would carry the same data.
    const { space } = await seedSpace(stack);
    const row = await outboxOf(await bookAndWait(member, space.id, 74), 'BOOKING_CREATED');
    const outboxId = randomUUID();
    const jobId = notificationJobId.event(outboxId);
    const payload = { ...(row.payload as BookingEventPayload), userEmail: `${'x'.repeat(400)}@example.test` };
    await stack.queues.notifications.add('BOOKING_CREATED', { outboxId, payload }, { jobId });
    await until('the event job to be failed', async () => (await jobState(jobId))?.state === 'failed');
    const job = (await stack.queues.notifications.getJob(jobId))!;
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/^internal_error: The BOOKING_CREATED job's data could not be stored: value too long/);
    const letter = await until('the dead letter', () => stack.queues.deadLetter.getJob(notificationJobId.deadLetter(jobId)));
    expect(letter.data).toMatchObject({ jobId, attemptsMade: 1, failedReason: job.failedReason });
    expect(await em().count(NotificationSchema, { outboxId })).toBe(0);
  });
});

describe('fan-out: one statement per event, endpoints read fresh', () => {
  it('only active endpoints subscribed to the type; one registered or re-enabled later gets the later events', async () => {
    const { workspace, space } = await seedSpace(stack);
    const host = makeUser('member', `fan-${randomUUID().slice(0, 6)}`);
    // No endpoint yet: no webhook job, no delivery row.
    const before = await bookAndWait(host, space.id, 110);
    const beforeRow = await outboxOf(before, 'BOOKING_CREATED');
    expect((await completed(notificationJobId.event(beforeRow.id))).returnvalue).toMatchObject({ outcome: 'created', emails: 1, webhooks: 0 });
    expect(await em().count(WebhookDeliverySchema, { outboxId: beforeRow.id })).toBe(0);

    const [a, b, c, d] = [await receiver(), await receiver(), await receiver(), await receiver()];
    const both: BookingEventType[] = ['BOOKING_CREATED', 'BOOKING_CONFIRMED'];
    const endpointA = await registerWebhook(workspace.id, a.url, both);
    const endpointB = await registerWebhook(workspace.id, b.url, ['BOOKING_CANCELLED']);
    const endpointC = await registerWebhook(workspace.id, c.url, both);
    await em().nativeUpdate(WebhookEndpointSchema, { id: endpointC.id }, { active: false });

    const bookingId = await bookAndWait(host, space.id, 112);
    const created = await outboxOf(bookingId, 'BOOKING_CREATED');
    expect((await completed(notificationJobId.event(created.id))).returnvalue).toMatchObject({ outcome: 'created', webhooks: 1 });
    await completed(notificationJobId.webhook(created.id, endpointA.id));
    const deliveredTo = async (outboxId: string) =>
      (await em().find(WebhookDeliverySchema, { outboxId }, { orderBy: { endpointId: 'asc' } })).map((r) => r.endpointId);
    expect(await deliveredTo(created.id)).toEqual([endpointA.id]);
    for (const e of [endpointB, endpointC]) expect(await stack.queues.notifications.getJob(notificationJobId.webhook(created.id, e.id))).toBeUndefined();

    // C is enabled again and D registered after that event was handled: the next event reaches both.
    await em().nativeUpdate(WebhookEndpointSchema, { id: endpointC.id }, { active: true });
    const endpointD = await registerWebhook(workspace.id, d.url, ['BOOKING_CONFIRMED']);
    expect((await act(stack, staff, bookingId, 'confirm')).body).toMatchObject({ state: 'completed' });
    const confirmed = await outboxOf(bookingId, 'BOOKING_CONFIRMED');
    expect((await completed(notificationJobId.event(confirmed.id))).returnvalue).toMatchObject({ outcome: 'created', webhooks: 3 });
    for (const e of [endpointA, endpointC, endpointD]) await completed(notificationJobId.webhook(confirmed.id, e.id));
    expect(await deliveredTo(confirmed.id)).toEqual([endpointA.id, endpointC.id, endpointD.id].sort());
    expect([a, b, c, d].map((r) => r.requests.length)).toEqual([2, 0, 1, 1]);
  });

  it('an event takes one SQL statement and one addBulk, replayed or not; what it stores is the event as it came', async () => {
    const { workspace, space } = await seedSpace(stack);
    const host = makeUser('member', `one-${randomUUID().slice(0, 6)}`);
    const hook = await receiver();
    const endpoint = await registerWebhook(workspace.id, hook.url, ['BOOKING_CANCELLED']);
    const guests = [
      { name: `O'Brien "Pat" \\ ?`, email: `pat-${randomUUID().slice(0, 8)}@example.test` },
      { name: 'Me again', email: host.email.toUpperCase() },
    ];
    const res = await createBooking(stack, host, space.id, hourlySlot(114), { attendees: 1, guests });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
    const bookingId = res.body.result.bookingId as string;
    const [pat] = await em().find(GuestSchema, { bookingId }, { orderBy: { position: 'asc' } });
    const created = await outboxOf(bookingId, 'BOOKING_CREATED');
    await completed(notificationJobId.event(created.id));

    // The handler alone, on its own ORM (its statements counted apart from the running workers') and a queue that
    // records what it is given.
    const { orm, bulks, deps } = await handlersAlone();
    // The event's own statement, counted apart from its emails' claims and records; the claims apart (the member's
    // is taken by the event's statement, the guest's by one of its own).
    let statements = 0;
    let claims = 0;
    orm.em.getConnection().getKnex().on('query', (q: { sql: string }) => {
      if (q.sql.startsWith('with "ev"')) statements++;
      if (q.sql.startsWith('insert into "email_sends"')) claims++;
    });
    try {
      const payload: BookingEventPayload = {
        ...(created.payload as BookingEventPayload),
        status: 'cancelled',
        reason: `it's "done" \\ ? ?? ünïcode ✓ {"x": 1}`,
      };
      const outboxId = randomUUID();
      const run = () => handleBookingEvent(deps as never, 'BOOKING_CANCELLED', { outboxId, payload });

      expect(await run()).toEqual({ outcome: 'created', emails: 2, guestEmails: 1, emailsRetried: 0, webhooks: 1 });
      expect(statements).toBe(1);
      expect(claims).toBe(1);
      // Both emails were sent by the handler itself; only the webhook delivery is a job of its own.
      expect(mail.sentFor(outboxId).map((m) => m.to)).toEqual([host.email, pat!.email]);
      // Each addressed by name: the member by the name of their token, the guest by the name the member gave.
      expect(mail.sentFor(outboxId).map((m) => m.toName)).toEqual([host.name, `O'Brien "Pat" \\ ?`]);
      expect(await em().count(EmailSendSchema, { outboxId, status: 'sent' })).toBe(2);
      expect(bulks).toHaveLength(1);
      expect(bulks[0]!.map((j) => j.opts.jobId)).toEqual([notificationJobId.webhook(outboxId, endpoint.id)]);
      expect(bulks[0]!.map((j) => j.data)).toEqual([{ outboxId, eventType: 'BOOKING_CANCELLED', endpointId: endpoint.id, payload }]);
      const notification = await em().findOneOrFail(NotificationSchema, { outboxId });
      expect(notification).toMatchObject({ userId: host.id, type: 'BOOKING_CANCELLED', title: 'Booking cancelled', data: payload, readAt: null });
      expect(notification.body).toContain(payload.reason);
      expect(await em().find(WebhookDeliverySchema, { outboxId })).toEqual([
        expect.objectContaining({ endpointId: endpoint.id, eventType: 'BOOKING_CANCELLED', status: 'pending', attempts: 0 }),
      ]);

      // Replayed: one statement again, the same jobs, nothing stored or sent twice.
      expect(await run()).toEqual({ outcome: 'exists', emails: 2, guestEmails: 1, emailsRetried: 0, webhooks: 1 });
      expect(statements).toBe(2);
      expect(claims).toBe(2);
      expect(bulks[1]).toEqual(bulks[0]);
      expect(mail.sentFor(outboxId)).toHaveLength(2);
      expect(await em().count(NotificationSchema, { outboxId })).toBe(1);
      expect(await em().count(WebhookDeliverySchema, { outboxId })).toBe(1);
    } finally {
      await orm.close();
    }
  });
  it("the event's statement claims the member's email as a claim of its own would: an abandoned claim is taken over, a live one left to its holder", async () => {
    const { space } = await seedSpace(stack);
    const host = makeUser('member', `claim-${randomUUID().slice(0, 6)}`);
    const created = await outboxOf(await bookAndWait(host, space.id, 116), 'BOOKING_CREATED');
    await completed(notificationJobId.event(created.id));

    const { orm, bulks, deps } = await handlersAlone();
    try {
      const payload = { ...(created.payload as BookingEventPayload), status: 'confirmed' };
      // Other workers claimed these events' emails: one a moment ago (still sending), one past the lease (it died).
      const [live, abandoned] = [randomUUID(), randomUUID()];
      await em().getConnection().execute(
        `insert into "email_sends" ("id", "outbox_id", "recipient", "event_type", "status", "attempts", "claimed_at", "created_at") values
           (?, ?, ?, 'BOOKING_CONFIRMED', 'sending', 1, now(), now()),
           (?, ?, ?, 'BOOKING_CONFIRMED', 'sending', 1, now() - interval '61 seconds', now() - interval '61 seconds')`,
        [randomUUID(), live, host.email, randomUUID(), abandoned, host.email],
      );
      const run = (outboxId: string) => handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId, payload });

      // The live claim is left alone: nothing sent, the email handed over to a job of its own, which retries later.
      expect(await run(live)).toEqual({ outcome: 'created', emails: 1, guestEmails: 0, emailsRetried: 1, webhooks: 0 });
      expect(mail.sentFor(live)).toEqual([]);
      expect(bulks.flat().map((j) => [j.name, j.opts.jobId])).toEqual([['email.send', notificationJobId.email(live, host.id)]]);
      expect(await em().findOneOrFail(EmailSendSchema, { outboxId: live })).toMatchObject({ status: 'sending', attempts: 1 });

      // The abandoned one is taken over and sent by the event's job.
      expect(await run(abandoned)).toEqual({ outcome: 'created', emails: 1, guestEmails: 0, emailsRetried: 0, webhooks: 0 });
      expect(mail.sentFor(abandoned).map((m) => m.to)).toEqual([host.email]);
      expect(await em().findOneOrFail(EmailSendSchema, { outboxId: abandoned })).toMatchObject({ status: 'sent', attempts: 2 });
      expect(bulks).toHaveLength(1);
    } finally {
      await orm.close();
    }
  });
  it("the event's statement writes the process's pending published marks on its way; a failed one gives them back", async () => {
    const { space } = await seedSpace(stack);
    const host = makeUser('member', `marks-${randomUUID().slice(0, 6)}`);
    const rows = [];
    for (const hours of [120, 121]) rows.push(await outboxOf(await bookAndWait(host, space.id, hours), 'BOOKING_CREATED'));
    await completed(notificationJobId.event(rows[1]!.id));
    await stack.marks.flush();
    await em().nativeUpdate(OutboxSchema, { id: { $in: rows.map((r) => r.id) } }, { publishedAt: null });

    // Marks that would wait a minute for a statement of their own.
    const errors: unknown[] = [];
    const { orm, deps, marks: made } = await handlersAlone({ marks: (orm) => new PublishMarks(orm, 60_000, (err) => errors.push(err)) });
    const marks = made!;
    const sql: string[] = [];
    orm.em.getConnection().getKnex().on('query', (q: { sql: string }) => void sql.push(q.sql));
    try {
      const payload = { ...(rows[0]!.payload as BookingEventPayload), status: 'confirmed' };
      marks.add(rows.map((r) => r.id));
      const outboxId = randomUUID();
      expect(await handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId, payload })).toMatchObject({ outcome: 'created' });
      expect(marks.pending).toBe(0);
      expect(sql.filter((q) => q.startsWith('with "async_commit"'))).toEqual([]);
      const marked = await em().find(OutboxSchema, { id: { $in: rows.map((r) => r.id) } });
      expect(marked.map((r) => r.publishedAt)).toEqual([expect.any(Date), expect.any(Date)]);

      // A statement that fails (here on a mark that is no uuid) writes nothing and hands its marks back.
      await em().nativeUpdate(OutboxSchema, { id: rows[0]!.id }, { publishedAt: null });
      marks.add(['not-a-uuid', rows[0]!.id]);
      const failing = randomUUID();
      await expect(handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId: failing, payload })).rejects.toThrow();
      expect(marks.pending).toBe(2);
      expect(await em().count(NotificationSchema, { outboxId: failing })).toBe(0);
      expect(await em().count(EmailSendSchema, { outboxId: failing })).toBe(0);
      expect(marks.take()).toEqual(['not-a-uuid', rows[0]!.id]);
      expect(errors).toEqual([]);
    } finally {
      await marks.close();
      await orm.close();
    }
  });
});

describe('follow-up jobs running together share their round trips', () => {
  it('events handled together share one statement, emails their claims and records; each gets its own answer', async () => {
    const { space } = await seedSpace(stack);
    const host = makeUser('member', `together-${randomUUID().slice(0, 6)}`);
    const bookingId = await bookAndWait(host, space.id, 118);
    const created = await outboxOf(bookingId, 'BOOKING_CREATED');
    await completed(notificationJobId.event(created.id));

    // The handlers alone, on their own ORM (statements counted apart from the running workers').
    const sent = recordingMailer();
    const { orm, bulks, deps } = await handlersAlone({ mailer: sent.channel });
    let statements = 0;
    let eventStatements = 0;
    orm.em.getConnection().getKnex().on('query', (q: { sql: string }) => {
      statements++;
      if (q.sql.startsWith('with "ev"')) eventStatements++;
    });
    try {
      const payload = { ...(created.payload as BookingEventPayload), status: 'confirmed' };
      const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const events = await Promise.all(ids.map((outboxId) => handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId, payload })));
      expect(events).toEqual(ids.map(() => ({ outcome: 'created', emails: 1, guestEmails: 0, emailsRetried: 0, webhooks: 0 })));
      // The first went at once, alone; the three handed over meanwhile waited for it and went together.
      expect(eventStatements).toBe(2);
      // Their emails were sent by the handlers (no job added), their claims and records sharing statements too.
      expect(bulks).toEqual([]);
      expect(sent.sent).toHaveLength(ids.length);
      expect(statements - eventStatements).toBeLessThan(2 * ids.length);
      for (const outboxId of ids) expect(await em().count(NotificationSchema, { outboxId })).toBe(1);
      for (const outboxId of ids) expect(await em().findOneOrFail(EmailSendSchema, { outboxId })).toMatchObject({ status: 'sent', attempts: 1 });

      // Email jobs (a retry's) alone: every claim and every `sent` record shares statements with the others in flight.
      statements = 0;
      const retried = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const emails = retried.map((outboxId) => ({ outboxId, eventType: 'BOOKING_CONFIRMED' as const, userId: host.id, to: host.email, payload }));
      const results = await Promise.all(emails.map((data) => sendEmail(deps as never, data)));
      for (const r of results) expect(r).toMatchObject({ outcome: 'sent', attempts: 1 });
      expect(statements).toBeLessThan(2 * retried.length);
      expect(sent.sent).toHaveLength(ids.length + retried.length);
      for (const outboxId of retried) expect(await em().findOneOrFail(EmailSendSchema, { outboxId })).toMatchObject({ status: 'sent', attempts: 1 });
      // Replayed together: nothing stored or sent twice.
      expect(await Promise.all(ids.map((outboxId) => handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId, payload })))).toEqual(
        ids.map(() => ({ outcome: 'exists', emails: 1, guestEmails: 0, emailsRetried: 0, webhooks: 0 })),
      );
      for (const r of await Promise.all(emails.map((data) => sendEmail(deps as never, data)))) expect(r).toMatchObject({ outcome: 'skipped' });
      expect(sent.sent).toHaveLength(ids.length + retried.length);
      expect(bulks).toEqual([]);
    } finally {
      await orm.close();
    }
  });
});

describe('guests get the booking\'s notifications by email', () => {
  const sentTo = (eventId: string) => mail.sentFor(eventId).map((m) => m.to).sort();

  it('a booking with 2 guests: 1 member email + 2 guest emails per event, replays send nothing twice, cancellation reaches guests', async () => {
    const { space } = await seedSpace(stack);
    const host = makeUser('member', `host-${randomUUID().slice(0, 6)}`);
    const guests = [
      { name: 'Grace Hopper', email: `grace-${randomUUID().slice(0, 8)}@example.test` },
      { name: 'Alan <Turing>', email: `alan-${randomUUID().slice(0, 8)}@example.test` },
    ];
    const res = await createBooking(stack, host, space.id, hourlySlot(100), { attendees: 1, guests });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
    const bookingId = res.body.result.bookingId as string;
    const guestRows = await em().find(GuestSchema, { bookingId }, { orderBy: { position: 'asc' } });
    const row = await outboxOf(bookingId, 'BOOKING_CREATED');

    const emailJobs = [
      notificationJobId.email(row.id, emailRecipientKey({ userId: host.id })),
      ...guestRows.map((g) => notificationJobId.email(row.id, emailRecipientKey({ userId: host.id, guest: g }))),
    ];
    expect(emailJobs[0]).toBe(`email-${row.id}-${host.id}`); // the member's id is the one email ids always had
    expect(emailJobs.slice(1)).toEqual(guestRows.map((g) => `email-${row.id}-guest-${g.id}`));
    expect(new Set(emailJobs).size).toBe(3);
    // All three sent by the event's job; the ids are what a retry job of each would be named.
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ emails: 3, guestEmails: 2, emailsRetried: 0 });
    for (const id of emailJobs) expect(await stack.queues.notifications.getJob(id)).toBeUndefined();

    const effects = async () => ({
      sentTo: sentTo(row.id),
      recorded: await em().count(EmailSendSchema, { outboxId: row.id, status: 'sent' }),
      notifications: await em().find(NotificationSchema, { outboxId: row.id }).then((ns) => ns.map((n) => n.userId)),
    });
    const first = await effects();
    expect(first).toEqual({ sentTo: [host.email, ...guests.map((g) => g.email)].sort(), recorded: 3, notifications: [host.id] });

    // Each guest's email is addressed to that guest and names the member who booked.
    const [grace, alan] = guests.map((g) => mail.sentFor(row.id).find((m) => m.to === g.email)!);
    expect(grace!.text).toMatch(/^Hello Grace Hopper,/);
    expect(grace!.text).toContain(`${host.name} booked Room 1 at Hub`);
    expect(grace!.text).toContain(`Booked by: ${host.name}`);
    expect(grace!.text).not.toContain(host.email);
    expect(grace!.subject).toMatch(/^You are invited: Room 1/);
    expect(alan!.html).toContain('Hello Alan &lt;Turing&gt;,');
    expect(alan!.text).toMatch(/^Hello Alan <Turing>,/);
    const own = mail.sentFor(row.id).find((m) => m.to === host.email)!;
    expect(own.text).toMatch(new RegExp(`^Hello ${host.name},`));
    expect(own.subject).toMatch(/^Booking received/);

    // Replay after BullMQ forgot every job: the handlers run again, find every send recorded, send nothing.
    for (const id of [notificationJobId.event(row.id), ...emailJobs]) await (await stack.queues.notifications.getJob(id))?.remove();
    await stack.marks.flush(); // the worker's deferred published mark, else it may land after the unmarking below
    await em().nativeUpdate(OutboxSchema, { id: row.id }, { publishedAt: null });
    expect(await publishOutbox(outboxDeps(), [row.id])).toBe(1);
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ outcome: 'exists', emails: 3, guestEmails: 2, emailsRetried: 0 });
    for (const id of emailJobs) expect(await stack.queues.notifications.getJob(id)).toBeUndefined();
    expect(await effects()).toEqual(first);

    // The cancellation reaches the guests too, with the reason.
    expect((await act(stack, host, bookingId, 'cancel', { reason: 'room flooded' })).body).toMatchObject({ state: 'completed' });
    const cancelRow = await outboxOf(bookingId, 'BOOKING_CANCELLED');
    await until('the cancellation emails', () => mail.sentFor(cancelRow.id).length === 3);
    expect(sentTo(cancelRow.id)).toEqual(first.sentTo);
    const graceCancel = mail.sentFor(cancelRow.id).find((m) => m.to === guests[0]!.email)!;
    expect(graceCancel.subject).toMatch(/^Booking cancelled/);
    expect(graceCancel.text).toMatch(/^Hello Grace Hopper,/);
    expect(graceCancel.text).toContain(`by ${host.name}, where you were a guest, was cancelled (reason: room flooded)`);
    // Still one in-app notification per event, for the member only.
    expect(await em().count(NotificationSchema, { outboxId: cancelRow.id })).toBe(1);
  });

  it('a guest listed with the member\'s own address (any case) gets no second email', async () => {
    const { space } = await seedSpace(stack);
    const host = makeUser('member', `self-${randomUUID().slice(0, 6)}`);
    const other = { name: 'Ada', email: `ada-${randomUUID().slice(0, 8)}@example.test` };
    const res = await createBooking(stack, host, space.id, hourlySlot(104), { attendees: 1, guests: [{ name: 'Me again', email: host.email.toUpperCase() }, other] });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
    const row = await outboxOf(res.body.result.bookingId, 'BOOKING_CREATED');
    expect((await completed(notificationJobId.event(row.id))).returnvalue).toMatchObject({ emails: 2, guestEmails: 1 });
    await until('both emails', () => mail.sentFor(row.id).length === 2);
    expect(sentTo(row.id)).toEqual([host.email, other.email].sort());
    expect(mail.sentFor(row.id).find((m) => m.to === host.email)!.text).toMatch(new RegExp(`^Hello ${host.name},`));
  });
});

describe('in-app notifications API', () => {
  it('lists only my own notifications; another user’s id is a 404', async () => {
    const { space } = await seedSpace(stack);
    const alice = makeUser('member', 'alice');
    const bob = makeUser('member', 'bob');
    const aliceBooking = await bookAndWait(alice, space.id, 80);
    const bobBooking = await bookAndWait(bob, space.id, 82);
    const aliceRow = await outboxOf(aliceBooking, 'BOOKING_CREATED');
    const bobRow = await outboxOf(bobBooking, 'BOOKING_CREATED');
    await until('both notifications', async () => (await em().count(NotificationSchema, { outboxId: { $in: [aliceRow.id, bobRow.id] } })) === 2);

    const mine = await stack.request('GET', '/api/v1/notifications', { as: alice });
    expect(mine.status).toBe(200);
    expect(mine.body.total).toBe(1);
    expect(mine.body.items).toEqual([
      expect.objectContaining({ type: 'BOOKING_CREATED', title: 'Booking received', readAt: null, data: expect.objectContaining({ bookingId: aliceBooking, userId: alice.id }) }),
    ]);
    const bobs = await stack.request('GET', '/api/v1/notifications', { as: bob });
    expect(bobs.body.items.map((n: { data: { bookingId: string } }) => n.data.bookingId)).toEqual([bobBooking]);

    // Not even staff see someone else's notifications.
    const staffView = await stack.request('GET', '/api/v1/notifications', { as: staff });
    expect(staffView.body.items.some((n: { data: { userId: string } }) => n.data.userId !== staff.id)).toBe(false);

    const stolen = await stack.request('POST', `/api/v1/notifications/${mine.body.items[0].id}/read`, { as: bob });
    expect(stolen.status).toBe(404);
    expect(stolen.body.error.code).toBe('not_found');
    expect((await em().findOneOrFail(NotificationSchema, mine.body.items[0].id)).readAt).toBeNull();
  });

  it('marks read (idempotent), filters unread, paginates newest first', async () => {
    const { space } = await seedSpace(stack);
    const carol = makeUser('member', 'carol');
    const bookingId = await bookAndWait(carol, space.id, 90);
    await act(stack, staff, bookingId, 'confirm');
    await act(stack, carol, bookingId, 'cancel', { reason: 'plans changed <b>' });
    await until('three notifications', async () => (await stack.request('GET', '/api/v1/notifications', { as: carol })).body.total === 3);

    const page1 = await stack.request('GET', '/api/v1/notifications?page=1&pageSize=2', { as: carol });
    expect(page1.body).toMatchObject({ page: 1, pageSize: 2, total: 3 });
    expect(page1.body.items).toHaveLength(2);
    const page2 = await stack.request('GET', '/api/v1/notifications?page=2&pageSize=2', { as: carol });
    expect(page2.body.items).toHaveLength(1);
    const all = [...page1.body.items, ...page2.body.items];
    expect(new Set(all.map((n: { id: string }) => n.id)).size).toBe(3);
    expect(all.map((n: { type: string }) => n.type).sort()).toEqual(['BOOKING_CANCELLED', 'BOOKING_CONFIRMED', 'BOOKING_CREATED']);
    const created = all.map((n: { createdAt: string }) => Date.parse(n.createdAt));
    expect(created).toEqual([...created].sort((x, y) => y - x));
    const cancelled = all.find((n: { type: string }) => n.type === 'BOOKING_CANCELLED');
    expect(cancelled.body).toContain('plans changed <b>');
    expect(cancelled.data.reason).toBe('plans changed <b>');

    const target = all[0];
    const read = await stack.request('POST', `/api/v1/notifications/${target.id}/read`, { as: carol });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: target.id, readAt: expect.any(String) });
    const again = await stack.request('POST', `/api/v1/notifications/${target.id}/read`, { as: carol });
    expect(again.body.readAt).toBe(read.body.readAt);

    const unread = await stack.request('GET', '/api/v1/notifications?unread=true', { as: carol });
    expect(unread.body.total).toBe(2);
    expect(unread.body.items.some((n: { id: string }) => n.id === target.id)).toBe(false);
    expect((await stack.request('GET', '/api/v1/notifications?unread=false', { as: carol })).body.total).toBe(3);

    // The cancellation email escapes the reason in HTML and keeps it in the text part.
    const cancelRow = await outboxOf(bookingId, 'BOOKING_CANCELLED');
    const [email] = await until('the cancellation email', () => (mail.sentFor(cancelRow.id).length ? mail.sentFor(cancelRow.id) : undefined));
    expect(email!.to).toBe(carol.email);
    expect(email!.html).toContain('plans changed &lt;b&gt;');
    expect(email!.html).not.toContain('plans changed <b>');
    expect(email!.text).toContain('plans changed <b>');

    expect((await stack.request('GET', '/api/v1/notifications?unread=maybe', { as: carol })).status).toBe(400);
    expect((await stack.request('POST', `/api/v1/notifications/${randomUUID()}/read`, { as: carol })).status).toBe(404);
  });

  it('PATCH /notifications {read: true} marks my unread ones (up to `before` if given), no one else\'s, and says how many', async () => {
    const { space } = await seedSpace(stack);
    const dave = makeUser('member', 'dave');
    const erin = makeUser('member', 'erin');
    const daveBooking = await bookAndWait(dave, space.id, 94);
    await bookAndWait(erin, space.id, 96);
    await act(stack, staff, daveBooking, 'confirm');
    const count = async (who: TestUser, query = '') => (await stack.request('GET', `/api/v1/notifications${query}`, { as: who })).body.total;
    await until('dave\'s two and erin\'s one', async () => (await count(dave)) === 2 && (await count(erin)) === 1);
    const [latest] = (await stack.request('GET', '/api/v1/notifications', { as: dave })).body.items;

    // Only those created up to `before`: the latest stays unread.
    const before = new Date(Date.parse(latest.createdAt) - 1).toISOString();
    const first = await stack.request('PATCH', '/api/v1/notifications', { as: dave, body: { read: true, before } });
    expect([first.status, first.body]).toEqual([200, { marked: 1 }]);
    expect((await stack.request('GET', '/api/v1/notifications?unread=true', { as: dave })).body.items.map((n: { id: string }) => n.id)).toEqual([latest.id]);
    const rest = await stack.request('PATCH', '/api/v1/notifications', { as: dave, body: { read: true } });
    expect(rest.body).toEqual({ marked: 1 });
    expect(await count(dave, '?unread=true')).toBe(0);
    expect((await stack.request('PATCH', '/api/v1/notifications', { as: dave, body: { read: true } })).body).toEqual({ marked: 0 });
    expect(await count(erin, '?unread=true')).toBe(1);

    for (const [payload, path] of [
      [{ read: true, before: 'yesterday' }, 'before'],
      [{ read: false }, 'read'],
      [{}, 'read'],
      [{ read: true, ids: [latest.id] }, 'ids'],
    ] as const) {
      const bad = await stack.request('PATCH', '/api/v1/notifications', { as: dave, body: payload });
      expect([bad.status, bad.body.error.details.map((d: { path: string }) => d.path)], JSON.stringify(payload)).toEqual([400, [path]]);
    }
  });
});

describe('webhook endpoints API', () => {
  it('admins register and list endpoints; URLs must be http(s); secrets are never returned', async () => {
    const { workspace } = await seedSpace(stack);
    const body = { url: 'https://hooks.example.test/in', secret: 'a-very-secret-value-123', eventTypes: ['BOOKING_CREATED', 'BOOKING_CREATED', 'BOOKING_CANCELLED'] };

    expect((await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: member, body })).status).toBe(403);
    expect((await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: staff, body })).status).toBe(403);
    expect((await stack.request('POST', `/api/v1/workspaces/${randomUUID()}/webhooks`, { as: admin, body })).status).toBe(404);

    for (const url of ['ftp://hooks.example.test/in', 'javascript:alert(1)', 'not a url', 'file:///etc/passwd']) {
      const bad = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin, body: { ...body, url } });
      expect(bad.status, url).toBe(400);
      expect(bad.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'url' })]));
    }
    const badTypes = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin, body: { ...body, eventTypes: ['BOOKING_EXPLODED'] } });
    expect(badTypes.status).toBe(400);
    expect((await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin, body: { ...body, eventTypes: [] } })).status).toBe(400);
    expect((await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin, body: { ...body, secret: 'short' } })).status).toBe(400);

    const created = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ workspaceId: workspace.id, url: body.url, eventTypes: ['BOOKING_CREATED', 'BOOKING_CANCELLED'], active: true });
    expect(JSON.stringify(created.body)).not.toContain(body.secret);

    const list = await stack.request('GET', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: admin });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 1, items: [{ id: created.body.id }] });
    expect(JSON.stringify(list.body)).not.toContain(body.secret);
    expect((await stack.request('GET', `/api/v1/workspaces/${workspace.id}/webhooks`, { as: member })).status).toBe(403);

    const deliveries = await stack.request('GET', `/api/v1/webhooks/${created.body.id}/deliveries?page=1&pageSize=5`, { as: admin });
    expect(deliveries.body).toEqual({ items: [], page: 1, pageSize: 5, total: 0 });
    expect((await stack.request('GET', `/api/v1/webhooks/${created.body.id}/deliveries`, { as: staff })).status).toBe(403);
    expect((await stack.request('GET', `/api/v1/webhooks/${randomUUID()}/deliveries`, { as: admin })).status).toBe(404);
  });

  it('the dead-letter queue is one of the queues Bull Board shows', () => {
    expect(stack.queues.deadLetter.name).toBe('notifications-dead-letter');
  });
});

// Last in the file: its sweep moves every booking of this database that is due by its clock.
describe('a sweep killed between its commit and its eviction', () => {
  it("its event, relayed, evicts the booking's cached reads (a sweep has no inbox row to redo the eviction from)", async () => {
    const { space } = await seedSpace(stack);
    const bookingId = await bookAndWait(member, space.id, 900);
    const detail = async () => (await stack.request('GET', `/api/v1/booking/bookings/${bookingId}`, { as: member })).body;
    const listed = async () => (await stack.request('GET', '/api/v1/booking/bookings', { as: member })).body.items.find((b: { id: string }) => b.id === bookingId);
    expect((await detail()).status).toBe('pending');
    expect((await listed()).status).toBe('pending');

    // The fault: the sweep commits, but its after-commit work never runs (no hooks: the scheduler "died").
    const later = new Date(Date.now() + 1000 * 3_600_000);
    expect(await runSweep(stack.orm, 'sweep.expire', later)).toBeGreaterThanOrEqual(1);
    expect((await em().findOneOrFail(BookingSchema, bookingId)).status).toBe('cancelled');
    // What the cache still serves: the state before the sweep.
    expect((await detail()).status).toBe('pending');
    expect((await listed()).status).toBe('pending');

    const row = await outboxOf(bookingId, 'BOOKING_CANCELLED');
    expect(row.publishedAt).toBeNull();
    expect(await relayOutbox(outboxDeps(), new Date(row.createdAt.getTime() + stack.config.followUps.relayGraceMs + 1000))).toBeGreaterThanOrEqual(1);
    await until('the relayed event', () => em().findOne(NotificationSchema, { outboxId: row.id }));
    expect(await detail()).toMatchObject({ status: 'cancelled', cancellationReason: 'expired' });
    expect((await listed()).status).toBe('cancelled');
  });

  it('an eviction that fails (cache down) does not hold up the notification; other events evict nothing', async () => {
    const { space } = await seedSpace(stack);
    const created = await outboxOf(await bookAndWait(member, space.id, 910), 'BOOKING_CREATED');
    const payload = { ...(created.payload as BookingEventPayload), status: 'cancelled', reason: 'expired' };
    const asked: string[] = [];
    const deps = {
      orm: stack.orm,
      queues: stack.queues,
      config: stack.config,
      logger: createLogger(stack.config, 'test'),
      mailer: mail.channel,
      evictCache: async (e: { bookingIds: Set<string> }) => {
        asked.push(...e.bookingIds);
        throw new Error('cache Redis down');
      },
    };
    const outboxId = randomUUID();
    expect(await handleBookingEvent(deps as never, 'BOOKING_CANCELLED', { outboxId, payload })).toMatchObject({ outcome: 'created' });
    expect(asked).toEqual([payload.bookingId]);
    expect(await em().count(NotificationSchema, { outboxId })).toBe(1);
    expect(await handleBookingEvent(deps as never, 'BOOKING_CONFIRMED', { outboxId: randomUUID(), payload: { ...payload, status: 'confirmed' } })).toMatchObject({ outcome: 'created' });
    expect(asked).toHaveLength(1);
  });
});
