import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { FinishedSignals, finishedChannel } from '../../src/jobs/finished-signal.js';
import { createLogger } from '../../src/logger.js';
import { createRedis } from '../../src/redis.js';
import { hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, tokenFor, type Stack } from '../helpers/stack.js';

let stack: Stack;
let spaceId: string;
const member = makeUser('member');

beforeAll(async () => {
  stack = await startStack();
  spaceId = (await seedSpace(stack)).space.id;
});
afterAll(() => stack?.close());

const publish = (message: string) => stack.redis.publish(finishedChannel(stack.config.queue.prefix), message);
const create = (hoursAhead: number, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ spaceId, bookingType: 'hourly', ...hourlySlot(hoursAhead) }),
});

describe('finished signals (what Prefer: wait waits on)', () => {
  it('wakes the watchers of the ids a message names, and keeps a signal that came before next()', async () => {
    const a = stack.finished.watch('job-a');
    const b = stack.finished.watch('job-b');
    const other = stack.finished.watch('job-other');
    try {
      await publish('job-a job-b');
      expect(await a.next(5_000)).toBe(true); // delivered while nobody was waiting: kept
      expect(await b.next(5_000)).toBe(true);
      expect(await other.next(50)).toBe(false);
      const later = a.next(5_000);
      await publish('job-a');
      expect(await later).toBe(true);
    } finally {
      [a, b, other].forEach((w) => w.stop());
    }
    expect(stack.finished.waiting).toBe(0);
  });

  it('a refused command answers Prefer: wait with its failed status and code', async () => {
    const first = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(70) } });
    expect(first.status).toBe(200);
    const clash = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(70) } });
    expect(clash.status).toBe(200);
    expect(clash.headers.get('preference-applied')).toBe('wait=10');
    expect(clash.body).toMatchObject({ state: 'failed', error: { code: 'slot_unavailable' } });
    expect(stack.finished.waiting).toBe(0);
  });

  it('an attempt that fails and is retried does not end the wait early: the answer is the final status', async () => {
    const afterCommit = stack.hooks.afterCommit!;
    let calls = 0;
    stack.hooks.afterCommit = async (effects) => {
      if (calls++ === 0) throw new Error('cache unreachable (injected)');
      return afterCommit(effects);
    };
    try {
      const res = await stack.request('POST', '/api/v1/booking/bookings', { as: member, wait: 10, body: { spaceId, bookingType: 'hourly', ...hourlySlot(72) } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
      expect(res.body.attemptsMade).toBeGreaterThanOrEqual(2);
      expect(calls).toBeGreaterThanOrEqual(2);
    } finally {
      stack.hooks.afterCommit = afterCommit;
    }
  });
});

describe('Prefer: wait without its signal', () => {
  // An API whose subscriber never subscribed: every signal is lost, as in a Redis reconnect.
  let deaf: FinishedSignals;
  let app: ReturnType<typeof createApp>;
  beforeAll(() => {
    deaf = new FinishedSignals(createRedis(stack.config.redis.url, 'worker'), stack.config.queue.prefix);
    app = createApp({ ...stack, finished: deaf, logger: createLogger(stack.config, 'test') });
  });
  afterAll(() => deaf?.close());

  it('answers with the job status read when its time is up', async () => {
    const res = await app.request('/api/v1/booking/bookings', create(74, { authorization: `Bearer ${await tokenFor(member)}`, prefer: 'wait=1' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  });

  it('a replay of a finished keyed command is read first, so it answers without waiting for a signal', async () => {
    const auth = { authorization: `Bearer ${await tokenFor(member)}`, 'idempotency-key': `replay-${crypto.randomUUID()}` };
    const first = await app.request('/api/v1/booking/bookings', create(76, auth));
    expect(first.status).toBe(202);
    const { jobId } = (await first.json()) as { jobId: string };
    expect((await waitForJob(stack, member, jobId)).state).toBe('completed');
    // A wait of 30 s that had to run out would fail this test on vitest's timeout.
    const again = await app.request('/api/v1/booking/bookings', create(76, { ...auth, prefer: 'wait=30' }));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: jobId, state: 'completed' });
  }, 10_000);
});
