import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DateTime } from 'luxon';
import { executeCommand } from '../../src/commands/run-command.js';
import { BookingEventSchema, BookingSchema, OutboxSchema, ProcessedCommandSchema, SpaceSchema } from '../../src/db/entities/index.js';
import { hourlySlot, seedSpace, startingSoon, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';
import { keyedIdentity } from '../../src/api/submit-command.js';
import { jobOutcomes } from '../../src/metrics.js';

let stack: Stack;
let spaceId: string;
const member = makeUser('member');

beforeAll(async () => {
  stack = await startStack();
  spaceId = (await seedSpace(stack)).space.id;
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const effectsOf = async (bookingId: string) => ({
  bookings: await em().count(BookingSchema, { id: bookingId }),
  audit: await em().count(BookingEventSchema, { bookingId }),
  outbox: await em().count(OutboxSchema, { aggregateId: bookingId }),
});

const createPayload = (bookingId: string, window = hourlySlot(24)) => ({
  actor: { id: member.id, role: 'member' as const },
  requestedAt: new Date().toISOString(),
  bookingId,
  spaceId,
  bookingType: 'hourly' as const,
  ...window,
  attendees: 1,
  notes: null,
});

async function ensureMember() {
  // The API upserts users from claims; direct command runs need the row too.
  await stack.request('GET', '/api/v1/workspaces', { as: member });
}

describe('exactly-once effect (inbox row commits with the change)', () => {
  it('the same command run twice directly → one effect, the same result', async () => {
    await ensureMember();
    const bookingId = crypto.randomUUID();
    const job = { id: `direct-${bookingId}`, name: 'booking.create', data: createPayload(bookingId, hourlySlot(30)) };
    const first = await executeCommand(stack.orm, job);
    const second = await executeCommand(stack.orm, job);
    expect(first).toMatchObject({ outcome: 'completed', replayed: false, result: { bookingId, status: 'pending' } });
    expect(second).toMatchObject({ outcome: 'completed', replayed: true });
    expect(second.outcome === 'completed' && second.result).toEqual(first.outcome === 'completed' && first.result);
    expect(await effectsOf(bookingId)).toEqual({ bookings: 1, audit: 1, outbox: 1 });
  });

  it('two concurrent deliveries of one command → one effect; the loser returns the winner’s result', async () => {
    await ensureMember();
    const bookingId = crypto.randomUUID();
    const job = { id: `twin-${bookingId}`, name: 'booking.create', data: createPayload(bookingId, hourlySlot(33)) };
    const [a, b] = await Promise.all([executeCommand(stack.orm, job), executeCommand(stack.orm, job)]);
    expect(a.outcome).toBe('completed');
    expect(b.outcome).toBe('completed');
    expect([a.replayed, b.replayed].filter(Boolean)).toHaveLength(1);
    expect(await effectsOf(bookingId)).toEqual({ bookings: 1, audit: 1, outbox: 1 });
  });

  it('a refused command run again is refused the same way, from the inbox', async () => {
    await ensureMember();
    const job = { id: `refused-${crypto.randomUUID()}`, name: 'booking.confirm', data: { actor: { id: member.id, role: 'member' }, requestedAt: new Date().toISOString(), bookingId: crypto.randomUUID() } };
    const first = await executeCommand(stack.orm, job);
    const second = await executeCommand(stack.orm, job);
    expect(first).toMatchObject({ outcome: 'failed', replayed: false, error: { code: 'forbidden' } });
    expect(second).toMatchObject({ outcome: 'failed', replayed: true, error: { code: 'forbidden' } });
  });

  it('a malformed payload fails as invalid_payload without touching anything', async () => {
    const job = { id: `bad-${crypto.randomUUID()}`, name: 'booking.create', data: { bookingId: 'nope' } };
    expect(await executeCommand(stack.orm, job)).toMatchObject({ outcome: 'failed', error: { code: 'invalid_payload' } });
    const unknown = { id: `unk-${crypto.randomUUID()}`, name: 'booking.teleport', data: {} };
    expect(await executeCommand(stack.orm, unknown)).toMatchObject({ outcome: 'failed', error: { code: 'invalid_payload' } });
  });

  it('a command whose data Postgres refuses (a reason past its column) fails at once as internal_error: no retry', async () => {
    const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(44) } });
    const bookingId = res.body.result.bookingId as string;
    // A producer other than the API (which caps a reason at 500 characters) sends a longer one; 5 attempts allowed.
    const payload = { bookingId, reason: 'r'.repeat(600), actor: { id: member.id, role: 'member' }, requestedAt: new Date().toISOString() };
    const cancelOutcomes = async () => {
      const values = (await jobOutcomes.get()).values.filter((v) => v.labels.name === 'booking.cancel');
      const of = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      return { failed: of('failed'), refused: of('refused') };
    };
    const before = await cancelOutcomes();
    const job = await stack.queues.commands.add('booking.cancel', payload, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    expect(await waitForJob(stack, member, job.id!)).toMatchObject({
      state: 'failed',
      error: { code: 'internal_error', message: expect.stringContaining('value too long') },
    });
    expect((await stack.queues.commands.getJob(job.id!))!.attemptsMade).toBe(1);
    expect(await em().findOneOrFail(ProcessedCommandSchema, job.id!)).toMatchObject({ outcome: 'failed', error: { code: 'internal_error' } });
    // Counted as a failure, not as a domain refusal.
    const outcomes = await cancelOutcomes();
    expect({ failed: outcomes.failed - before.failed, refused: outcomes.refused - before.refused }).toEqual({ failed: 1, refused: 0 });
    expect((await em().findOneOrFail(BookingSchema, bookingId)).status).toBe('pending');
  });

  it('a job re-added after BullMQ removed it → processed again, one effect, the same result', async () => {
    const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(36) } });
    expect(res.body.state).toBe('completed');
    const job = (await stack.queues.commands.getJob(res.body.id))!;
    const data = job.data;
    await job.remove();
    // BullMQ forgets a removed job's id: the same id is accepted as new and runs again.
    const again = await stack.queues.commands.add('booking.create', data, { jobId: res.body.id });
    const result = await again.waitUntilFinished(await queueEvents(), 10_000);
    expect(result).toEqual(res.body.result);
    expect(await effectsOf(res.body.result.bookingId)).toEqual({ bookings: 1, audit: 1, outbox: 1 });
  });
});

let events: import('bullmq').QueueEvents | undefined;
async function queueEvents() {
  if (!events) {
    const { QueueEvents } = await import('bullmq');
    const { createRedis } = await import('../../src/redis.js');
    events = new QueueEvents('booking-commands', { connection: createRedis(stack.config.redis.url, 'worker'), prefix: stack.config.queue.prefix });
    await events.waitUntilReady();
  }
  return events;
}
afterAll(async () => {
  const connection = events?.client;
  await events?.close();
  await (await connection)?.quit().catch(() => undefined);
});

describe('Idempotency-Key', () => {
  const post = (key: string, body: unknown, as = member, wait?: number) =>
    stack.request('POST', '/api/v1/booking/bookings', { as, body, headers: { 'idempotency-key': key }, ...(wait ? { wait } : {}) });

  it('same user + key + body → the same job, booking id and result; one booking', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(40) };
    const first = await post('key-same-1', body);
    expect(first.status).toBe(202);
    const second = await post('key-same-1', body);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    const done = await waitForJob(stack, member, first.body.jobId);
    const replay = await post('key-same-1', body, member, 5);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: first.body.jobId, state: 'completed', result: done.result });
    expect(await em().count(BookingSchema, { id: first.body.bookingId })).toBe(1);
  });

  it('the same instants written another way are the same body: the replay answers the job', async () => {
    const window = hourlySlot(42);
    const first = await post('key-spelling', { spaceId, bookingType: 'hourly', ...window }, member, 10);
    expect(first.body.state).toBe('completed');
    // Without milliseconds, and in another offset: the same instants.
    const bare = (iso: string) => iso.replace('.000Z', 'Z');
    const plusTwo = (iso: string) => DateTime.fromISO(iso).setZone('UTC+2').toISO()!;
    for (const spell of [bare, plusTwo]) {
      const again = await post('key-spelling', { spaceId, bookingType: 'hourly', startsAt: spell(window.startsAt), endsAt: spell(window.endsAt) }, member, 5);
      expect(again.status, spell(window.startsAt)).toBe(200);
      expect(again.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    }
    // Another instant is another body.
    const later = { startsAt: new Date(Date.parse(window.startsAt) + 15 * 60_000).toISOString(), endsAt: window.endsAt };
    expect((await post('key-spelling', { spaceId, bookingType: 'hourly', ...later })).status).toBe(422);
    expect(await em().count(BookingSchema, { id: first.body.result.bookingId })).toBe(1);
  });

  it('same key with another body → 422 idempotency_key_reused, nothing enqueued', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(44) };
    const first = await post('key-mismatch', body);
    expect(first.status).toBe(202);
    // Totals, not per state: the first job moves from waiting to completed meanwhile.
    const total = async () => Object.values(await stack.queues.commands.getJobCounts()).reduce((a, b) => a + b, 0);
    const before = await total();
    const other = await post('key-mismatch', { ...body, attendees: 2 });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect(await total()).toBe(before);
  });

  it('the same key from two users is two commands', async () => {
    const other = makeUser('member');
    const a = await post('shared-key', { spaceId, bookingType: 'hourly', ...hourlySlot(46) });
    const b = await post('shared-key', { spaceId, bookingType: 'hourly', ...hourlySlot(47) }, other);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body.jobId).not.toBe(b.body.jobId);
  });

  it('after BullMQ trimmed the job, the key still returns the same job and result (from the inbox)', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(50) };
    const first = await post('key-trimmed', body, member, 10);
    expect(first.body.state).toBe('completed');
    await (await stack.queues.commands.getJob(first.body.id))!.remove();
    expect(await stack.queues.commands.getJob(first.body.id)).toBeUndefined();

    const status = await stack.request('GET', `/api/v1/jobs/${first.body.id}`, { as: member });
    expect(status.body).toMatchObject({ id: first.body.id, name: 'booking.create', state: 'completed', result: first.body.result });
    // As the README says: the same createdAt; finishedAt is the commit's, at or before BullMQ's; no attempt count.
    expect(status.body.createdAt).toBe(first.body.createdAt);
    expect(Date.parse(status.body.finishedAt)).toBeLessThanOrEqual(Date.parse(first.body.finishedAt));
    expect(status.body).not.toHaveProperty('attemptsMade');
    const replay = await post('key-trimmed', body, member, 10);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    const replay202 = await post('key-trimmed', body);
    expect(replay202.status).toBe(202);
    expect(replay202.body.jobId).toBe(first.body.id);
    // Nothing was re-enqueued and nothing ran twice.
    expect(await stack.queues.commands.getJob(first.body.id)).toBeUndefined();
    expect(await em().count(BookingSchema, { id: first.body.result.bookingId })).toBe(1);
    const mismatch = await post('key-trimmed', { ...body, notes: 'x' });
    expect(mismatch.status).toBe(422);
  });

  it("a replay answers its job after the checks it passed would fail: its start has passed, its space was deactivated", async () => {
    const window = await startingSoon();
    const body = { spaceId, bookingType: 'hourly', ...window };
    const first = await post('key-started', body, member, 10);
    expect(first.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    // The API's clock past the start (Date only: timers, and the signed-in token, run on).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse(window.startsAt) + 60_000 });
    try {
      const replay = await post('key-started', body, member, 5);
      expect(replay.status).toBe(200);
      expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
      // The key with another body is still 422, and a new command with this body is refused as it would be.
      expect((await post('key-started', { ...body, notes: 'x' })).status).toBe(422);
      const fresh = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body });
      expect(fresh.status).toBe(400);
      expect(fresh.body.error.details).toContainEqual({ path: 'startsAt', message: 'must not be in the past' });
    } finally {
      vi.useRealTimers();
    }

    const closing = (await seedSpace(stack)).space.id;
    const kept = { spaceId: closing, bookingType: 'hourly', ...hourlySlot(90) };
    const accepted = await post('key-closing', kept, member, 10);
    expect(accepted.body.state).toBe('completed');
    await em().nativeUpdate(SpaceSchema, { id: closing }, { active: false });
    expect((await post('key-closing', kept, member, 5)).body).toMatchObject({ id: accepted.body.id, state: 'completed', result: accepted.body.result });
    expect((await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: kept })).body.error.code).toBe('space_inactive');
    expect(await em().count(BookingSchema, { spaceId: closing })).toBe(1);
  });

  it('a refused keyed command replays its refusal', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(40) }; // taken by the first test
    const first = await post('key-refused', body, member, 10);
    expect(first.body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    const replay = await post('key-refused', body, member, 10);
    expect(replay.body).toMatchObject({ id: first.body.id, state: 'failed', error: { code: 'slot_unavailable' } });
  });
});

describe('Idempotency-Key on commands that remove what they name', () => {
  it('a DELETE replayed with its key answers the same job, not 404; the key on another booking is 422', async () => {
    const created = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(70) } });
    const bookingId = created.body.result.bookingId as string;
    const del = (id: string, wait?: number) =>
      stack.request('DELETE', `/api/v1/booking/bookings/${id}`, { as: member, headers: { 'idempotency-key': 'key-delete' }, ...(wait ? { wait } : {}) });
    const first = await del(bookingId, 10);
    expect(first.body).toMatchObject({ state: 'completed', result: { bookingId, deleted: true } });
    const replay = await del(bookingId);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ jobId: first.body.id, bookingId });
    const waited = await del(bookingId.toUpperCase(), 5);
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    // Without the key the booking is gone as before.
    expect((await stack.request('DELETE', `/api/v1/booking/bookings/${bookingId}`, { as: member })).status).toBe(404);
    const other = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(72) } });
    const reused = await del(other.body.result.bookingId);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    expect(await em().count(BookingSchema, { id: other.body.result.bookingId, deletedAt: null })).toBe(1);
  });

  it('a cart remove-item replayed with its key answers the same job, not 404', async () => {
    const shopper = makeUser('member');
    const added = await stack.request('POST', '/api/v1/booking/cart/add-item', { as: shopper, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(74) } });
    const itemId = added.body.result.itemId as string;
    const remove = (wait?: number) =>
      stack.request('POST', '/api/v1/booking/cart/remove-item', { as: shopper, body: { itemId }, headers: { 'idempotency-key': 'key-remove' }, ...(wait ? { wait } : {}) });
    const first = await remove(10);
    expect(first.body).toMatchObject({ state: 'completed', result: { itemId, status: 'removed' } });
    const replay = await remove(5);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    // Another member's key of the same name is another command: the item is not theirs.
    const stranger = await stack.request('POST', '/api/v1/booking/cart/remove-item', { as: makeUser('member'), body: { itemId }, headers: { 'idempotency-key': 'key-remove' } });
    expect(stranger.status).toBe(404);
  });
});

describe('Idempotency-Key on commands whose booking changed or went since', () => {
  it('a PATCH, a cancel and a confirm replayed with their keys after a DELETE answer their jobs, not 404', async () => {
    const staff = makeUser('staff');
    const created = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(76) } });
    const bookingId = created.body.result.bookingId as string;
    const path = `/api/v1/booking/bookings/${bookingId}`;
    const keyed = (method: string, url: string, key: string, as = member, body?: object, wait = 10) =>
      stack.request(method, url, { as, headers: { 'idempotency-key': key }, wait, ...(body ? { body } : {}) });
    const patched = await keyed('PATCH', path, 'key-patch', member, { notes: 'by the window' });
    const confirmed = await keyed('POST', `${path}/confirm`, 'key-confirm', staff);
    const cancelled = await keyed('POST', `${path}/cancel`, 'key-cancel', member, { reason: 'plans changed' });
    for (const done of [patched, confirmed, cancelled]) expect(done.body.state).toBe('completed');
    expect((await stack.request('DELETE', path, { as: member, wait: 10 })).body.state).toBe('completed');

    const replays = [
      [await keyed('PATCH', path, 'key-patch', member, { notes: 'by the window' }), patched],
      [await keyed('POST', `${path}/confirm`, 'key-confirm', staff), confirmed],
      [await keyed('POST', `/api/v1/booking/bookings/${bookingId.toUpperCase()}/cancel`, 'key-cancel', member, { reason: 'plans changed' }), cancelled],
    ] as const;
    for (const [replay, first] of replays) {
      expect(replay.status).toBe(200);
      expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    }
    // Another body under a used key is 422, not the 404 the gone booking would give; without a key it is 404.
    expect((await keyed('POST', `${path}/cancel`, 'key-cancel', member, { reason: 'other' })).body.error.code).toBe('idempotency_key_reused');
    expect((await stack.request('POST', `${path}/cancel`, { as: member, body: { reason: 'plans changed' } })).status).toBe(404);
    expect((await keyed('PATCH', path, 'key-new', member, { notes: 'by the window' })).status).toBe(404);
  });

  it('a cart add-item replayed with its key after its space was deactivated answers its job, not 409', async () => {
    const shopper = makeUser('member');
    const closing = (await seedSpace(stack)).space.id;
    const body = { spaceId: closing, bookingType: 'hourly', ...hourlySlot(78) };
    const add = () => stack.request('POST', '/api/v1/booking/cart/add-item', { as: shopper, body, headers: { 'idempotency-key': 'key-add' }, wait: 10 });
    const first = await add();
    expect(first.body.state).toBe('completed');
    await em().nativeUpdate(SpaceSchema, { id: closing }, { active: false });
    const replay = await add();
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    const fresh = await stack.request('POST', '/api/v1/booking/cart/add-item', { as: shopper, body });
    expect(fresh.body.error.code).toBe('space_inactive');
  });
});

describe('Idempotency-Key first sent to an earlier version (its job id was idem-<hex>)', () => {
  const keyed = (url: string, key: string, body: object, wait?: number) =>
    stack.request('POST', url, { as: member, body, headers: { 'idempotency-key': key }, ...(wait ? { wait } : {}) });
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  /** What an earlier version left of a finished keyed command: its inbox row under the legacy id, trimmed from BullMQ. */
  async function asLegacyInboxRow(jobId: string, key: string): Promise<string> {
    const legacy = keyedIdentity(member.id, key).legacyJobId;
    await (await stack.queues.commands.getJob(jobId))!.remove();
    await em().nativeUpdate(ProcessedCommandSchema, { id: jobId }, { id: legacy });
    return legacy;
  }

  it('a create replays its job from the inbox under the legacy id: the same job and result, nothing enqueued; another body is 422', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(80) };
    const first = await keyed('/api/v1/booking/bookings', 'key-legacy-create', body, 10);
    expect(first.body.state).toBe('completed');
    expect(first.body.id).toMatch(UUID);
    const legacy = await asLegacyInboxRow(first.body.id, 'key-legacy-create');

    const replay = await keyed('/api/v1/booking/bookings', 'key-legacy-create', body, 5);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: legacy, state: 'completed', result: first.body.result });
    const replay202 = await keyed('/api/v1/booking/bookings', 'key-legacy-create', body);
    expect(replay202.status).toBe(202);
    expect(replay202.body).toEqual({ jobId: legacy, statusUrl: `/api/v1/jobs/${legacy}`, bookingId: first.body.result.bookingId });
    expect((await stack.request('GET', `/api/v1/jobs/${legacy}`, { as: member })).body).toMatchObject({ id: legacy, state: 'completed' });
    expect((await keyed('/api/v1/booking/bookings', 'key-legacy-create', { ...body, notes: 'x' })).body.error?.code).toBe('idempotency_key_reused');
    // Nothing was added under the key's job id, and nothing ran twice.
    expect(await stack.queues.commands.getJob(first.body.id)).toBeUndefined();
    expect(await em().count(ProcessedCommandSchema, { id: first.body.id })).toBe(0);
    expect(await em().count(BookingSchema, { id: first.body.result.bookingId })).toBe(1);
  });

  it('a cancel replays its job from the inbox under the legacy id', async () => {
    const created = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(82) } });
    const cancelPath = `/api/v1/booking/bookings/${created.body.result.bookingId}/cancel`;
    const first = await keyed(cancelPath, 'key-legacy-cancel', { reason: 'plans changed' }, 10);
    expect(first.body.state).toBe('completed');
    const legacy = await asLegacyInboxRow(first.body.id, 'key-legacy-cancel');
    const replay = await keyed(cancelPath, 'key-legacy-cancel', { reason: 'plans changed' }, 5);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ id: legacy, state: 'completed', result: first.body.result });
    expect((await keyed(cancelPath, 'key-legacy-cancel', { reason: 'other' })).body.error?.code).toBe('idempotency_key_reused');
    expect(await stack.queues.commands.getJob(first.body.id)).toBeUndefined();
  });

  it('a create whose legacy job BullMQ still holds, waiting: the replay answers that job and waits for it; no second job', async () => {
    const body = { spaceId, bookingType: 'hourly', ...hourlySlot(84) };
    const legacy = keyedIdentity(member.id, 'key-legacy-queued').legacyJobId;
    // A paused queue keeps the workers off the job while it is moved to the id an earlier version gave it.
    await stack.queues.commands.pause();
    let resumed = false;
    try {
      const first = await keyed('/api/v1/booking/bookings', 'key-legacy-queued', body);
      expect(first.status).toBe(202);
      const job = (await stack.queues.commands.getJob(first.body.jobId))!;
      await job.remove();
      await stack.queues.commands.add(job.name, job.data, { jobId: legacy });

      const replay202 = await keyed('/api/v1/booking/bookings', 'key-legacy-queued', body);
      expect(replay202.body).toEqual({ jobId: legacy, statusUrl: `/api/v1/jobs/${legacy}`, bookingId: first.body.bookingId });
      expect((await keyed('/api/v1/booking/bookings', 'key-legacy-queued', { ...body, attendees: 2 })).status).toBe(422);
      // The wait is on the legacy job: it answers once that job finishes, after the queue resumes.
      const waited = keyed('/api/v1/booking/bookings', 'key-legacy-queued', body, 10);
      // Time for the request to be waiting before the job can run (its answer does not depend on it: a replay
      // that came later would read the finished job).
      await new Promise((r) => setTimeout(r, 200));
      await stack.queues.commands.resume();
      resumed = true;
      const done = await waited;
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ id: legacy, state: 'completed', result: { bookingId: first.body.bookingId, status: 'pending' } });
      expect(await stack.queues.commands.getJob(first.body.jobId)).toBeUndefined();
      expect(await em().count(BookingSchema, { id: first.body.bookingId })).toBe(1);
    } finally {
      if (!resumed) await stack.queues.commands.resume();
    }
  });
});

describe('Prefer: wait and job status', () => {
  it('without Prefer the answer is 202 and the job can be polled to completion', async () => {
    const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(60) } });
    expect(res.status).toBe(202);
    expect((await waitForJob(stack, member, res.body.jobId)).state).toBe('completed');
    const inbox = await em().findOneOrFail(ProcessedCommandSchema, res.body.jobId);
    expect(inbox.result).toMatchObject({ bookingId: res.body.bookingId });
  });

  it('Prefer: wait=N answers 200 with the finished job status', async () => {
    const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(62) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=10');
    expect(res.body).toMatchObject({ state: 'completed', name: 'booking.create', result: { status: 'pending' } });
  });
});

describe('job retention', () => {
  it('jobs trimmed at once (keep count 0) still answer GET /jobs/:id from the inbox', async () => {
    const trimmed = await startStack({ env: { JOB_KEEP_COMPLETED_COUNT: '0', JOB_KEEP_FAILED_COUNT: '0' } });
    try {
      const s = (await seedSpace(trimmed)).space.id;
      const ok = await trimmed.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId: s, bookingType: 'hourly', ...hourlySlot(24) } });
      const okStatus = await waitForJob(trimmed, member, ok.body.jobId);
      expect(okStatus).toMatchObject({ state: 'completed', result: { bookingId: ok.body.bookingId } });
      const refused = await trimmed.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId: s, bookingType: 'hourly', ...hourlySlot(24) } });
      expect(await waitForJob(trimmed, member, refused.body.jobId)).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
      expect(await trimmed.queues.commands.getJob(ok.body.jobId)).toBeUndefined();
      expect(await trimmed.queues.commands.getJob(refused.body.jobId)).toBeUndefined();
    } finally {
      await trimmed.close();
    }
  });
});
