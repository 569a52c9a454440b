import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReadCache } from '../../src/cache/read-cache.js';
import { cachePrefix } from '../../src/cache/keys.js';
import { createApiCacheRedis, whenConnecting } from '../../src/redis.js';
import { slots } from '../../src/cache/keys.js';
import { executeCommand } from '../../src/commands/run-command.js';
import { BookingSchema } from '../../src/db/entities/index.js';
import { bookingDto } from '../../src/api/serializers.js';
import { cacheErrors, cacheRequests, cacheStoresSkipped } from '../../src/metrics.js';
import { act, createBooking, hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, REDIS_URL, startStack, type Stack } from '../helpers/stack.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

let stack: Stack;
let spaceId: string;
let workspaceId: string;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack();
  const seeded = await seedSpace(stack);
  spaceId = seeded.space.id;
  workspaceId = seeded.workspace.id;
});
afterAll(() => stack?.close());

const counter = async (c: typeof cacheRequests | typeof cacheStoresSkipped | typeof cacheErrors, labels: Record<string, string>) =>
  (await c.get()).values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k as never] === val)).reduce((n, v) => n + v.value, 0);

const get = (path: string, as = member) => stack.request('GET', `/api/v1${path}`, { as });

describe('read-through cache', () => {
  it('serves repeated reads from Redis (hits counted)', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(10))).body.result.bookingId;
    const hitsBefore = await counter(cacheRequests, { keyspace: 'booking', result: 'hit' });
    const first = await get(`/booking/bookings/${id}`);
    const second = await get(`/booking/bookings/${id}`);
    expect(second.body).toEqual(first.body);
    expect(await counter(cacheRequests, { keyspace: 'booking', result: 'hit' })).toBe(hitsBefore + 1);
  });

  it('once GET /jobs/:id says completed, detail and every list the booking is in show the new state', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(12))).body.result.bookingId;
    const lists = [
      ['/booking/bookings', member],
      ['/booking/bookings?status=pending', member],
      ['/booking/bookings?pageSize=100', staff],
      [`/booking/bookings?workspaceId=${workspaceId}&pageSize=100`, staff],
      [`/booking/bookings?spaceId=${spaceId}&pageSize=100`, staff],
      [`/booking/bookings?userId=${member.id}&pageSize=100`, staff],
      [`/booking/bookings?userId=${member.id}&workspaceId=${workspaceId}&sort=startsAt&pageSize=100`, staff],
    ] as const;
    // Warm every cache entry with the pending state.
    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('pending');
    for (const [path, as] of lists) expect((await get(path, as)).body.items.find((b: { id: string }) => b.id === id)?.status).toBe('pending');

    const accepted = await stack.request('POST', `/api/v1/booking/bookings/${id}/confirm`, { as: staff });
    expect(accepted.status).toBe(202);
    expect((await waitForJob(stack, staff, accepted.body.jobId)).state).toBe('completed');

    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('confirmed');
    for (const [path, as] of lists) {
      const items = (await get(path, as)).body.items as { id: string; status: string }[];
      if (path.includes('status=pending')) expect(items.find((b) => b.id === id)).toBeUndefined();
      else expect(items.find((b) => b.id === id)?.status).toBe('confirmed');
    }
  });

  it('availability is fresh after a cancel frees the slot', async () => {
    const window = hourlySlot(14);
    const id = (await createBooking(stack, member, spaceId, window)).body.result.bookingId;
    const q = `/spaces/${spaceId}/availability?from=${encodeURIComponent(window.startsAt)}&to=${encodeURIComponent(window.endsAt)}`;
    expect((await get(q)).body.busy).toHaveLength(1);
    expect((await get(q)).body.busy).toHaveLength(1);
    expect((await act(stack, member, id, 'cancel', { reason: 'x' })).body.state).toBe('completed');
    expect((await get(q)).body.busy).toEqual([]);
  });

  it('a forced race (slow DB read interleaved with a commit + eviction) leaves no stale entry', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(16))).body.result.bookingId;
    const slot = slots.bookingDetail(id);
    const skippedBefore = await counter(cacheStoresSkipped, { keyspace: 'booking' });
    // The reader misses and reads the old row; then, before it stores, a staff confirm commits and evicts.
    const stale = await stack.cache.through(slot, async () => {
      const old = await stack.orm.em.fork().findOneOrFail(BookingSchema, id);
      const outcome = await executeCommand(
        stack.orm,
        { id: `race-${id}`, name: 'booking.confirm', data: { actor: { id: staff.id, role: 'staff' }, requestedAt: new Date().toISOString(), bookingId: id } },
        stack.hooks,
      );
      expect(outcome.outcome).toBe('completed');
      return { booking: bookingDto(old), timezone: 'UTC' };
    });
    expect(stale?.booking.status).toBe('pending'); // the slow reader itself saw the old row…
    expect(await counter(cacheStoresSkipped, { keyspace: 'booking' })).toBe(skippedBefore + 1);
    // …but did not put it back: the next read goes to Postgres and sees the commit.
    expect((await get(`/booking/bookings/${id}`, staff)).body.status).toBe('confirmed');
    expect((await get(`/booking/bookings/${id}`, staff)).body.status).toBe('confirmed');
  });

  it('the same race on a list page: the slow store is refused, and the page shows the commit', async () => {
    const other = makeUser('member');
    const id = (await createBooking(stack, other, spaceId, hourlySlot(18))).body.result.bookingId;
    const query = { page: 1, pageSize: 10 };
    const slot = slots.bookingList({ userId: other.id }, query);
    const skippedBefore = await counter(cacheStoresSkipped, { keyspace: 'bookings' });
    await stack.cache.through(slot, async () => {
      const rows = await stack.orm.em.fork().find(BookingSchema, { userId: other.id });
      await executeCommand(
        stack.orm,
        { id: `race-list-${id}`, name: 'booking.cancel', data: { actor: { id: other.id, role: 'member' }, requestedAt: new Date().toISOString(), bookingId: id, reason: 'r' } },
        stack.hooks,
      );
      return { items: rows.map(bookingDto), total: rows.length };
    });
    expect(await counter(cacheStoresSkipped, { keyspace: 'bookings' })).toBe(skippedBefore + 1);
    const list = await get('/booking/bookings?page=1&pageSize=10', other);
    expect(list.body.items.map((b: { status: string }) => b.status)).toEqual(['cancelled']);
  });

  it('one user’s cached list is never served to another user', async () => {
    const a = makeUser('member');
    const b = makeUser('member');
    await createBooking(stack, a, spaceId, hourlySlot(20));
    expect((await get('/booking/bookings', a)).body.total).toBe(1);
    expect((await get('/booking/bookings', a)).body.total).toBe(1); // cached now
    const forB = await get('/booking/bookings', b);
    expect(forB.body).toMatchObject({ total: 0, items: [] });
  });

  it('an entry the cache cannot read (garbage, a foreign shape) is a cache error: Postgres answers and replaces it, so the next read hits', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(23))).body.result.bookingId;
    const fresh = await get(`/booking/bookings/${id}`);
    const redis = createApiCacheRedis(REDIS_URL);
    await whenConnecting(redis);
    try {
      await redis.set(`${cachePrefix(stack.config.queue.prefix)}booking:${id}`, 'detail1\nnot enough fields', 'EX', 60);
      const errorsBefore = await counter(cacheRequests, { keyspace: 'booking', result: 'error' });
      const read = await get(`/booking/bookings/${id}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(fresh.body);
      expect(await counter(cacheRequests, { keyspace: 'booking', result: 'error' })).toBe(errorsBefore + 1);
      const hitsBefore = await counter(cacheRequests, { keyspace: 'booking', result: 'hit' });
      expect((await get(`/booking/bookings/${id}`)).body).toEqual(fresh.body);
      expect(await counter(cacheRequests, { keyspace: 'booking', result: 'hit' })).toBe(hitsBefore + 1);
      expect(await counter(cacheRequests, { keyspace: 'booking', result: 'error' })).toBe(errorsBefore + 1);
    } finally {
      redis.disconnect();
    }
  });

  it('a cached detail is still only shown to its owner and staff', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(22))).body.result.bookingId;
    expect((await get(`/booking/bookings/${id}`)).status).toBe(200); // cached
    const intruder = await get(`/booking/bookings/${id}`, makeUser('member'));
    expect(intruder.status).toBe(404);
    expect(JSON.stringify(intruder.body)).not.toContain(member.id);
    expect((await get(`/booking/bookings/${id}`, staff)).status).toBe(200);
  });
});

describe('lookups of one event-loop turn', () => {
  it('share one round trip (one MGET), each answered from its own slot', async () => {
    const redis = createApiCacheRedis(REDIS_URL);
    await whenConnecting(redis); // it refuses commands until connected (no offline queue)
    const errorsBefore = await counter(cacheErrors, {});
    try {
      // Under this file's prefix (stack.close removes it), on a connection of its own to count what it sends.
      const cache = new ReadCache(redis, `${cachePrefix(stack.config.queue.prefix)}turn:`, 60);
      const sent = vi.spyOn(redis, 'sendCommand');
      const names = () => sent.mock.calls.map(([cmd]) => (cmd as { name: string }).name);
      const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
      const detailA = slots.bookingDetail(a);
      const detailB = slots.bookingDetail(b);
      const list = slots.bookingList({ userId: a }, { page: 1 });
      const loads: string[] = [];
      const loader = (v: string) => async () => (loads.push(v), { v });
      const all = () => Promise.all([cache.through(detailA, loader('a')), cache.through(detailB, loader('b')), cache.through(list, loader('list'))]);

      expect(await all()).toEqual([{ v: 'a' }, { v: 'b' }, { v: 'list' }]); // three misses, three stores
      expect(loads).toEqual(['a', 'b', 'list']);
      // Hits send the lookups and nothing else.
      sent.mockClear();
      expect(await all()).toEqual([{ v: 'a' }, { v: 'b' }, { v: 'list' }]); // three hits
      expect(loads).toHaveLength(3);
      expect(names()).toEqual(['mget']);
      sent.mockClear();
      expect(await Promise.all([cache.through(detailB, loader('b')), cache.through(detailA, loader('a'))])).toEqual([{ v: 'b' }, { v: 'a' }]);
      expect(names()).toEqual(['mget']);
      expect(await counter(cacheErrors, {})).toBe(errorsBefore);
    } finally {
      redis.disconnect();
    }
  });
});

describe('stamped values (lists, availability)', () => {
  /**
   * A ReadCache of its own (under `prefix`) on a connection of its own, a member's list slot, and a loader that
   * records what it loaded: what each test below runs `body` with.
   */
  async function withListSlot(prefixName: string, body: (t: ReturnType<typeof listSlot>) => Promise<void>) {
    const redis = createApiCacheRedis(REDIS_URL);
    await whenConnecting(redis);
    try {
      await body(listSlot(redis, `${cachePrefix(stack.config.queue.prefix)}${prefixName}:`));
    } finally {
      redis.disconnect();
    }
  }
  function listSlot(redis: ReturnType<typeof createApiCacheRedis>, prefix: string) {
    const userId = crypto.randomUUID();
    const loads: string[] = [];
    return {
      redis,
      prefix,
      cache: new ReadCache(redis, prefix, 60),
      slot: slots.bookingList({ userId }, { page: 1, pageSize: 20 }),
      loads,
      loader: (v: string) => async () => (loads.push(v), { v }),
      /** What a worker's eviction after a commit of this member's is given. */
      change: { bookingIds: new Set<string>(), userIds: new Set([userId]), workspaceIds: new Set<string>(), spaceIds: new Set<string>() },
    };
  }

  it('a page stored before its generation moved is a miss, and the next store replaces it under the new one', () =>
    withListSlot('stamp', async ({ redis, prefix, cache, slot, loads, loader, change }) => {
      expect(await cache.through(slot, loader('v1'))).toEqual({ v: 'v1' });
      expect(await cache.through(slot, loader('unused'))).toEqual({ v: 'v1' }); // a hit
      const first = await redis.get(prefix + slot.genKey);
      expect((await redis.get(prefix + slot.valueKey))?.split('\n')[0]).toBe(first);
      await cache.evict(change);
      expect(await cache.through(slot, loader('v2'))).toEqual({ v: 'v2' }); // the v1 entry is still there, unread
      expect(await cache.through(slot, loader('unused'))).toEqual({ v: 'v2' });
      expect(loads).toEqual(['v1', 'v2']);
      expect(await redis.get(prefix + slot.valueKey)).toBe(`${BigInt(first!) + 1n}\n{"v":"v2"}`);
    }));

  it('a generation whose key was evicted starts past every value it had: no entry stamped before reads as current', () =>
    withListSlot('evicted', async ({ redis, prefix, cache, slot, loads, loader, change }) => {
      // A first write makes the generation, the read stores under it; an evicting Redis then drops the generation
      // (not the page), and the next write starts it again.
      await cache.evict(change);
      expect(await cache.through(slot, loader('v1'))).toEqual({ v: 'v1' });
      await redis.del(prefix + slot.genKey);
      await cache.evict(change);
      expect(await cache.through(slot, loader('v2'))).toEqual({ v: 'v2' }); // v1's stamp is not the new generation
      // No generation at all: the page left under the key is not trusted either.
      await redis.del(prefix + slot.genKey);
      expect(await cache.through(slot, loader('v3'))).toEqual({ v: 'v3' });
      expect(await cache.through(slot, loader('unused'))).toEqual({ v: 'v3' });
      expect(loads).toEqual(['v1', 'v2', 'v3']);
    }));
});

describe('after-commit work survives a crash', () => {
  const confirmJob = (id: string, bookingId: string) => ({
    id,
    name: 'booking.confirm',
    data: { actor: { id: staff.id, role: 'staff' }, requestedAt: new Date().toISOString(), bookingId },
  });

  it('a redelivered command whose first run died after commit evicts before it is reported completed', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(30))).body.result.bookingId;
    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('pending'); // cached
    const job = confirmJob(`crash-${id}`, id);
    // First delivery: commits, then "dies" before any after-commit work (no hooks run).
    expect((await executeCommand(stack.orm, job)).outcome).toBe('completed');
    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('pending'); // the crash window: stale
    // Redelivery: finds the inbox row and redoes the stored after-commit work.
    const replay = await executeCommand(stack.orm, job, stack.hooks);
    expect(replay).toMatchObject({ outcome: 'completed', replayed: true, result: { status: 'confirmed' } });
    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('confirmed');
  });

  it('a failed eviction fails the job for a retry instead of reporting completion', async () => {
    const id = (await createBooking(stack, member, spaceId, hourlySlot(32))).body.result.bookingId;
    expect((await get(`/booking/bookings/${id}`)).body.status).toBe('pending'); // cached
    const redis = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const { createRedis } = await import('../../src/redis.js');
    const { createCommandHooks } = await import('../../src/follow-ups/after-commit.js');
    const { createLogger } = await import('../../src/logger.js');
    const url = new URL(REDIS_URL);
    url.port = String(proxy.port);
    const deadCache = createRedis(url.toString(), 'api');
    try {
      proxy.down();
      const hooks = createCommandHooks({ config: stack.config, orm: stack.orm, queues: stack.queues, cacheRedis: deadCache, logger: createLogger(stack.config, 'test'), marks: stack.marks });
      const job = confirmJob(`evict-fail-${id}`, id);
      await expect(executeCommand(stack.orm, job, hooks)).rejects.toThrow();
      // The retry (cache reachable again) redoes the eviction from the inbox and completes.
      expect(await executeCommand(stack.orm, job, stack.hooks)).toMatchObject({ outcome: 'completed', replayed: true });
      expect((await get(`/booking/bookings/${id}`)).body.status).toBe('confirmed');
    } finally {
      deadCache.disconnect();
      await proxy.close();
    }
  });
});

describe('cache down', () => {
  it('reads answer from Postgres and the errors are counted', async () => {
    const redis = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const viaProxy = new URL(REDIS_URL);
    viaProxy.port = String(proxy.port);
    const s = await startStack({ env: { CACHE_REDIS_URL: viaProxy.toString() } });
    try {
      const seeded = await seedSpace(s);
      const id = (await createBooking(s, member, seeded.space.id, hourlySlot(10))).body.result.bookingId;
      expect((await s.request('GET', `/api/v1/booking/bookings/${id}`, { as: member })).status).toBe(200);
      proxy.down();
      const errorsBefore = await counter(cacheRequests, { result: 'error' });
      const detail = await s.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
      expect(detail.status).toBe(200);
      expect(detail.body).toMatchObject({ id, status: 'pending' });
      const list = await s.request('GET', '/api/v1/booking/bookings', { as: member });
      expect(list.status).toBe(200);
      expect(list.body.items.map((b: { id: string }) => b.id)).toContain(id);
      expect(await counter(cacheRequests, { result: 'error' })).toBeGreaterThanOrEqual(errorsBefore + 2);
    } finally {
      proxy.up();
      await s.close();
      await proxy.close();
    }
  });
});

describe('ids in capitals', () => {
  it('name the same booking, list, owner and job as in lower case: one cache entry, fresh after the job completes', async () => {
    const upper = (s: string) => s.toUpperCase();
    const created = await createBooking(stack, member, spaceId, hourlySlot(300));
    const bookingId: string = created.body.result.bookingId;
    const detail = (id: string) => stack.request('GET', `/api/v1/booking/bookings/${id}`, { as: member });
    const staffList = (ws: string) => stack.request('GET', `/api/v1/booking/bookings?workspaceId=${ws}&status=confirmed`, { as: staff });
    expect((await detail(upper(bookingId))).body).toMatchObject({ id: bookingId, status: 'pending' });
    const before = (await staffList(upper(workspaceId))).body.total;

    const confirmed = await stack.request('POST', `/api/v1/booking/bookings/${upper(bookingId)}/confirm`, { as: staff, wait: 10 });
    expect(confirmed.body.state).toBe('completed');
    expect((await detail(upper(bookingId))).body.status).toBe('confirmed');
    expect((await staffList(upper(workspaceId))).body.total).toBe(before + 1);
    const job = await stack.request('GET', `/api/v1/jobs/${upper(confirmed.body.id)}`, { as: staff });
    expect(job.body).toMatchObject({ id: confirmed.body.id, state: 'completed' });
  });

  it('a token whose sub is in capitals owns what it books', async () => {
    const shouting = { ...makeUser('member'), id: crypto.randomUUID().toUpperCase() };
    const created = await createBooking(stack, shouting, spaceId, hourlySlot(302));
    expect(created.body.state).toBe('completed');
    const bookingId: string = created.body.result.bookingId;
    expect((await stack.request('GET', `/api/v1/booking/bookings/${bookingId}`, { as: shouting })).body.userId).toBe(shouting.id.toLowerCase());
    expect((await stack.request('GET', `/api/v1/booking/cart?userId=${shouting.id}`, { as: shouting })).status).toBe(200);
    expect((await act(stack, shouting, bookingId, 'cancel', { reason: 'plans changed' })).body.state).toBe('completed');
  });
});
