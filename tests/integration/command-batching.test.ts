import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuedFingerprint } from '../../src/api/job-status.js';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, tokenFor, type Stack } from '../helpers/stack.js';

/**
 * A create request's lookups (what BullMQ holds under an Idempotency-Key's job id, the space row with the inbox row,
 * the add and the read-back) are shared with the other requests of the same event-loop turn (src/batch.ts):
 * concurrent requests, each still answered as if it had been alone.
 */
let stack: Stack;
let spaceId: string;
let inactiveId: string;
const member = makeUser('member');
let token: string;
const createPath = '/api/v1/booking/bookings';

beforeAll(async () => {
  stack = await startStack();
  spaceId = (await seedSpace(stack, { capacity: 3 })).space.id;
  inactiveId = (await seedSpace(stack)).space.id;
  await stack.orm.em.getConnection().execute('update spaces set active = false where id = ?', [inactiveId], 'run');
  // A ready token and a known user: the requests below then reach their lookups in the same turn.
  token = await tokenFor(member);
  expect((await stack.request('GET', '/api/v1/workspaces', { token })).status).toBe(200);
});
afterAll(() => stack?.close());

let nextHour = 24;
const slot = () => hourlySlot((nextHour += 2));
const post = (body: Record<string, unknown>, key?: string, wait?: number) =>
  stack.request('POST', createPath, { token, body: { bookingType: 'hourly', ...body }, ...(key ? { headers: { 'idempotency-key': key } } : {}), ...(wait ? { wait } : {}) });
const allJobs = async () => Object.values(await stack.queues.commands.getJobCounts()).reduce((a, b) => a + b, 0);

/** Counts the Postgres connections the API takes from the ORM's pool while `fn` runs. */
async function countAcquisitions<T>(fn: () => Promise<T>): Promise<{ result: T; acquisitions: number }> {
  const client = stack.orm.em.getConnection().getKnex().client as { acquireConnection: () => Promise<unknown> };
  const original = client.acquireConnection;
  let acquisitions = 0;
  client.acquireConnection = function (this: unknown) {
    acquisitions++;
    return original.call(this);
  };
  try {
    return { result: await fn(), acquisitions };
  } finally {
    client.acquireConnection = original;
  }
}

describe('requests served in one event-loop turn', () => {
  it('each gets its own answer: 202 with its own job, 404 for an unknown space, 409 inactive, 400 over capacity', async () => {
    const bodies = [
      { spaceId, ...slot() },
      { spaceId, ...slot(), notes: 'keyed' },
      { spaceId: randomUUID(), ...slot() },
      { spaceId: inactiveId, ...slot() },
      { spaceId, ...slot(), attendees: 4 },
      { spaceId, ...slot(), attendees: 2 },
    ];
    const keys = [undefined, `k-${randomUUID()}`, `k-${randomUUID()}`, `k-${randomUUID()}`, undefined, `k-${randomUUID()}`];
    const before = await allJobs();
    const { result: answers, acquisitions } = await countAcquisitions(() => Promise.all(bodies.map((b, i) => post(b, keys[i]))));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 404, 409, 400, 202]);
    expect(answers[2]!.body.error.code).toBe('not_found');
    expect(answers[3]!.body.error.code).toBe('space_inactive');
    expect(answers[4]!.body.error.details.map((d: { path: string }) => d.path)).toEqual(['attendees']);
    // One query served several requests.
    expect(acquisitions).toBeLessThan(bodies.length);
    const accepted = [0, 1, 5];
    expect(new Set(accepted.map((i) => answers[i]!.body.jobId)).size).toBe(3);
    for (const i of accepted) {
      const job = await stack.queues.commands.getJob(answers[i]!.body.jobId);
      expect(job?.data).toMatchObject({ spaceId, startsAt: bodies[i]!.startsAt, bookingId: answers[i]!.body.bookingId, attendees: bodies[i]!.attendees ?? 1 });
      expect(job?.data.fingerprint == null).toBe(keys[i] === undefined);
    }
    expect(await allJobs()).toBe(before + 3);
    for (const i of accepted) expect((await waitForJob(stack, member, answers[i]!.body.jobId)).state).toBe('completed');
  });

  it('replays and a reused key among new commands: the same job, 422, and one new job', async () => {
    const key = `k-${randomUUID()}`;
    const body = { spaceId, ...slot() };
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const before = await allJobs();
    const fresh = { spaceId, ...slot() };
    const answers = await Promise.all([post(body, key), post({ ...body, notes: 'other' }, key), post(body, key), post(fresh, `k-${randomUUID()}`)]);
    expect(answers.map((a) => a.status)).toEqual([202, 422, 202, 202]);
    expect(answers[0]!.body).toEqual(first.body);
    expect(answers[2]!.body).toEqual(first.body);
    expect(answers[1]!.body.error.code).toBe('idempotency_key_reused');
    expect(answers[3]!.body.jobId).not.toBe(first.body.jobId);
    expect(await allJobs()).toBe(before + 1);
  });

  it('after BullMQ trimmed the job, replays in one turn are answered from the inbox', async () => {
    const key = `k-${randomUUID()}`;
    const body = { spaceId, ...slot() };
    const first = await post(body, key, 10);
    expect(first.body.state).toBe('completed');
    await (await stack.queues.commands.getJob(first.body.id))!.remove();
    const before = await allJobs();
    const answers = await Promise.all([post(body, key), post({ ...body, attendees: 2 }, key), post(body, key, 5)]);
    expect(answers.map((a) => a.status)).toEqual([202, 422, 200]);
    expect(answers[0]!.body.jobId).toBe(first.body.id);
    expect(answers[2]!.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    expect(await allJobs()).toBe(before);
  });
});

describe('what BullMQ holds under the job ids of one turn', () => {
  it('is read in one script call sent by its SHA1 (EVALSHA), each lookup answered by the first of its ids that holds a job', async () => {
    const ids = [`idem-a-${randomUUID()}`, `idem-b-${randomUUID()}`, `idem-none-${randomUUID()}`];
    // Job hashes as a keyed add leaves them (a paused queue keeps the worker off them).
    await stack.queues.commands.pause();
    try {
      await stack.queues.commands.add('booking.create', { fingerprint: 'fa' } as never, { jobId: ids[0] });
      await stack.queues.commands.add('booking.create', { fingerprint: null } as never, { jobId: ids[1] });
      const sent: string[] = [];
      const original = stack.redis.sendCommand;
      stack.redis.sendCommand = function (this: unknown, command: { name: string }) {
        sent.push(command.name);
        return original.apply(this, arguments as never);
      } as never;
      try {
        // A key's lookup names its job id and its legacy id: the first that holds a job answers.
        const lookUp = () =>
          Promise.all([queuedFingerprint(stack, [ids[0]!, ids[1]!]), queuedFingerprint(stack, [ids[2]!, ids[1]!]), queuedFingerprint(stack, [ids[2]!])]);
        const expected = [{ jobId: ids[0], fingerprint: 'fa' }, { jobId: ids[1], fingerprint: null }, undefined];
        // The first call may meet a Redis that does not know the script yet (NOSCRIPT: ioredis then sends its text).
        expect(await lookUp()).toEqual(expected);
        sent.length = 0;
        expect(await lookUp()).toEqual(expected);
        expect(sent).toEqual(['evalsha']);
      } finally {
        stack.redis.sendCommand = original;
      }
    } finally {
      await Promise.all(ids.map((id) => stack.queues.commands.remove(id)));
      await stack.queues.commands.resume();
    }
  });
});

describe('one Idempotency-Key raced by concurrent requests with two bodies', () => {
  it('enqueues one job; the requests with its body get it (202), the others 422', async () => {
    const key = `race-${randomUUID()}`;
    const a = { spaceId, ...slot() };
    const b = { spaceId, ...slot() };
    const before = await allJobs();
    const bodies = [a, b, a, b, a, b, a, b];
    const answers = await Promise.all(bodies.map((body) => post(body, key)));
    expect(await allJobs()).toBe(before + 1);
    const accepted = answers.filter((r) => r.status === 202);
    const refused = answers.filter((r) => r.status === 422);
    expect(accepted.length + refused.length).toBe(bodies.length);
    expect(new Set(accepted.map((r) => r.body.jobId)).size).toBe(1);
    const job = await stack.queues.commands.getJob(accepted[0]!.body.jobId);
    const winner = job!.data.startsAt === a.startsAt ? a : b;
    answers.forEach((r, i) => expect(r.status).toBe(bodies[i] === winner ? 202 : 422));
    for (const r of refused) expect(r.body.error.code).toBe('idempotency_key_reused');
  });
});

describe('prepared statements after a migration', () => {
  it('a statement whose result type changed is prepared again, not refused', async () => {
    const db = stack.orm.em.getConnection();
    for (let i = 0; i < 6; i++) expect((await post({ spaceId, ...slot() })).status).toBe(202);
    // Changes the type of a column the space lookup returns: Postgres refuses the cached plan of the old statement.
    await db.execute('alter table workspaces alter column timezone type text', [], 'run');
    try {
      for (let i = 0; i < 6; i++) expect((await post({ spaceId, ...slot() }, `k-${randomUUID()}`)).status).toBe(202);
    } finally {
      await db.execute('alter table workspaces alter column timezone type varchar(64)', [], 'run');
    }
    expect((await post({ spaceId, ...slot() })).status).toBe(202);
  });
});
