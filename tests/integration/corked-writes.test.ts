import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachePrefix, gen, slots } from '../../src/cache/keys.js';
import { corked, CorkedQueue, sendAdd } from '../../src/jobs/corked-writes.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(() => stack?.close());

describe('CorkedQueue.addBulk (the queues the service makes)', () => {
  it('adds each job with the queue’s default options under its own, and answers Job instances with their ids', async () => {
    const queue = stack.queues.deadLetter;
    expect(queue).toBeInstanceOf(CorkedQueue);
    const id = `bulk-${randomUUID()}`;
    const jobs = await queue.addBulk([
      { name: 'a', data: { n: 1 }, opts: { jobId: id, attempts: 2 } },
      { name: 'b', data: { n: 2 } },
    ]);
    expect(jobs.map((j) => j.name)).toEqual(['a', 'b']);
    expect(jobs[0]!.id).toBe(id);
    expect(jobs[1]!.id).toMatch(/^\d+$/); // BullMQ's own id when none is given
    const stored = await Promise.all(jobs.map((j) => queue.getJob(j.id!)));
    expect(stored.map((j) => j?.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(stored[0]!.opts.attempts).toBe(2);
    expect(stored[1]!.opts.attempts).toBe(stack.config.queue.attempts);
    expect(stored[1]!.opts.removeOnComplete).toEqual({ age: stack.config.queue.keepCompleted.age, count: stack.config.queue.keepCompleted.count });
  });

  it('leaves a job id BullMQ already holds alone, as addBulk does', async () => {
    const queue = stack.queues.deadLetter;
    const id = `bulk-${randomUUID()}`;
    await queue.addBulk([{ name: 'first', data: { v: 'first' }, opts: { jobId: id } }]);
    const [again] = await queue.addBulk([{ name: 'second', data: { v: 'second' }, opts: { jobId: id } }]);
    expect(again!.id).toBe(id);
    expect((await queue.getJob(id))?.data).toEqual({ v: 'first' });
  });

  it('fails with an add that fails (an id BullMQ refuses), and an empty bulk sends nothing', async () => {
    const queue = stack.queues.deadLetter;
    await expect(queue.addBulk([{ name: 'x', data: {}, opts: { jobId: '0' } }])).rejects.toThrow();
    expect(await queue.addBulk([])).toEqual([]);
  });
});

describe('corked', () => {
  it('sends what it is given in order on the corked socket, and uncorks it: a read right after an add sees it', async () => {
    const queue = stack.queues.deadLetter;
    const client = await queue.backend.client;
    const ids = Array.from({ length: 5 }, () => `cork-${randomUUID()}`);
    const writes: number[] = [];
    type Socket = { write: (...a: unknown[]) => boolean; writableCorked: number };
    const socket = (client as unknown as { stream: Socket }).stream;
    const write = socket.write;
    // Each command's write, and whether the socket was corked when it was made.
    socket.write = function (this: Socket, ...a: unknown[]) {
      writes.push(this.writableCorked);
      return write.apply(this, a);
    };
    let replies: Promise<unknown>[];
    try {
      replies = corked(client, () => ids.flatMap((id, i) => [sendAdd(queue, client, 'cork', { i }, { jobId: id }).id, client.hget(queue.toKey(id), 'data')]));
    } finally {
      socket.write = write;
    }
    const settled = await Promise.all(replies);
    expect(settled).toEqual(ids.flatMap((id, i) => [id, JSON.stringify({ i })]));
    // ioredis writes each command to the socket as it is sent: all of them were sent here, onto the corked socket
    // (the kernel then sees one write, at the uncork).
    expect(writes.length).toBe(ids.length * 2);
    expect(writes.every((c) => c > 0)).toBe(true);
    expect(socket.writableCorked).toBe(0);
  });
});

describe('the cache eviction script', () => {
  it('deletes each booking’s detail entry and moves every generation it names, starting those that had none', async () => {
    const prefix = cachePrefix(stack.config.queue.prefix);
    const [a, b, user, space] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const { redis } = stack;
    await redis.set(prefix + slots.bookingDetail(a).valueKey, 'cached a');
    await redis.set(prefix + slots.bookingDetail(b).valueKey, 'cached b');
    await redis.set(prefix + gen.booking(a), '41');
    await redis.set(prefix + gen.user(user), '7');
    const allBefore = await redis.get(prefix + gen.all());

    await stack.cache.evict({ bookingIds: new Set([a, b]), userIds: new Set([user]), workspaceIds: new Set(), spaceIds: new Set([space]) });

    expect(await redis.exists(prefix + slots.bookingDetail(a).valueKey, prefix + slots.bookingDetail(b).valueKey)).toBe(0);
    expect(await redis.get(prefix + gen.booking(a))).toBe('42');
    expect(await redis.get(prefix + gen.user(user))).toBe('8');
    // Generations seen for the first time start at Redis's clock in µs, never at a small number.
    for (const key of [gen.booking(b), gen.space(space)]) expect(Number(await redis.get(prefix + key))).toBeGreaterThan(1e15);
    const allAfter = await redis.get(prefix + gen.all());
    expect(allAfter).not.toBe(allBefore);
    for (const key of [gen.booking(a), gen.booking(b), gen.user(user), gen.space(space), gen.all()]) expect(await redis.ttl(prefix + key)).toBeGreaterThan(0);
  });
});
