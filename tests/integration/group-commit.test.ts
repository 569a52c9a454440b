import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/commands/group-commit.js';
import { executeCommand, type CommandHooks } from '../../src/commands/run-command.js';
import { BookingEventSchema, BookingSchema, OutboxSchema, ProcessedCommandSchema, ReservationSchema } from '../../src/db/entities/index.js';
import { notificationJobId } from '../../src/jobs/catalogue.js';
import { hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

// Group commit (src/commands/group-commit.ts) driven directly, with the stack's real after-commit hooks; the
// stack's own worker also runs through it, so every other integration test exercises it too.
let stack: Stack;
let spaceId: string;
let otherSpaceId: string;
const member = makeUser('member');
let hoursAhead = 24;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  spaceId = (await seedSpace(stack)).space.id;
  otherSpaceId = (await seedSpace(stack)).space.id;
  await stack.request('GET', '/api/v1/workspaces', { as: member }); // the member's user row
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
const createJob = (over: { space?: string; window?: { startsAt: string; endsAt: string }; data?: Record<string, unknown> } = {}) => {
  const bookingId = crypto.randomUUID();
  return {
    bookingId,
    job: {
      id: `g-${bookingId}`,
      name: 'booking.create',
      data: {
        actor: { id: member.id, role: 'member' },
        requestedAt: new Date().toISOString(),
        bookingId,
        spaceId: over.space ?? spaceId,
        bookingType: 'hourly',
        ...(over.window ?? hourlySlot((hoursAhead += 2))),
        attendees: 1,
        notes: null,
        guests: [],
        ...over.data,
      },
    },
  };
};

describe('group commit of booking creates', () => {
  it('creates handed over together commit in one transaction; each has its own inbox row, effects and event', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const jobs = Array.from({ length: 6 }, (_, i) => createJob({ space: i % 2 ? otherSpaceId : spaceId }));
    const outcomes = await Promise.all(jobs.map(({ job }) => runner.execute(job)));

    expect(runner.stats).toEqual({ groups: 1, grouped: 6, fellBack: 0 });
    for (const [i, { bookingId, job }] of jobs.entries()) {
      expect(outcomes[i]).toEqual({ outcome: 'completed', replayed: false, result: expect.objectContaining({ bookingId, status: 'pending' }) });
      const inbox = await em().findOneOrFail(ProcessedCommandSchema, job.id);
      expect(inbox).toMatchObject({ outcome: 'completed', result: outcomes[i]!.outcome === 'completed' ? outcomes[i]!.result : null });
      expect(inbox.effects?.bookingIds).toEqual([bookingId]);
      expect(await em().count(BookingEventSchema, { bookingId })).toBe(1);
      // The shared after-commit step published every member's event (one addBulk) and left the marks to be written.
      await stack.marks.flush();
      const [event] = await em().find(OutboxSchema, { aggregateId: bookingId });
      expect(event!.publishedAt).not.toBeNull();
      expect(await stack.queues.notifications.getJob(notificationJobId.event(event!.id))).toBeDefined();
    }
    // And evicted: a detail read sees each booking.
    const read = await stack.request('GET', `/api/v1/booking/bookings/${jobs[0]!.bookingId}`, { as: member });
    expect(read.body).toMatchObject({ id: jobs[0]!.bookingId, status: 'pending' });
  });

  it('two members claiming overlapping slots → the first is written, the other leaves the group and is refused alone', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const window = hourlySlot((hoursAhead += 2));
    const a = createJob({ window });
    const b = createJob({ window });
    const c = createJob();
    const bad = { bookingId: '', job: { id: `g-bad-${crypto.randomUUID()}`, name: 'booking.create', data: { bookingId: 'nope' } } };
    const [oa, ob, oc, obad] = await Promise.all([a, b, c, bad].map(({ job }) => runner.execute(job)));

    // Nothing rolled back: one statement wrote a and c, b's claim was skipped (ON CONFLICT DO NOTHING) and b ran alone.
    expect(runner.stats).toEqual({ groups: 1, grouped: 2, fellBack: 0 });
    expect(oa).toMatchObject({ outcome: 'completed' });
    expect(ob).toMatchObject({ outcome: 'failed', error: { code: 'slot_unavailable' } });
    expect(oc).toMatchObject({ outcome: 'completed' });
    expect(obad).toMatchObject({ outcome: 'failed', error: { code: 'invalid_payload' } });
    expect(await em().count(BookingSchema, { id: { $in: [a.bookingId, b.bookingId] } })).toBe(1);
    expect(await em().count(ReservationSchema, { bookingId: { $in: [a.bookingId, b.bookingId] } })).toBe(1);
    // Nothing of b's was written by the group: no audit row, no event; its refusal is in the inbox like any other.
    expect(await em().count(BookingEventSchema, { bookingId: b.bookingId })).toBe(0);
    expect(await em().count(OutboxSchema, { aggregateId: b.bookingId })).toBe(0);
    expect(await em().findOneOrFail(ProcessedCommandSchema, b.job.id)).toMatchObject({ outcome: 'failed', error: { code: 'slot_unavailable' } });
  });

  it('any other failure of the insert rolls the whole group back; each member then runs alone', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    // A booking id already taken by a booking whose claim is gone: its claim goes in, its booking row cannot.
    const taken = createJob();
    await executeCommand(stack.orm, taken.job, stack.hooks);
    await em().nativeDelete(ReservationSchema, { bookingId: taken.bookingId });
    const clash = createJob();
    clash.job.data.bookingId = taken.bookingId;
    const fine = [createJob(), createJob()];
    const settled = await Promise.allSettled([clash, ...fine].map(({ job }) => runner.execute(job)));

    expect(runner.stats).toEqual({ groups: 0, grouped: 0, fellBack: 3 });
    // Alone, the clash is a fault (retried by BullMQ), the others commit on their own.
    expect(settled[0]).toMatchObject({ status: 'rejected', reason: { code: '23505' } });
    for (const s of settled.slice(1)) expect(s).toMatchObject({ status: 'fulfilled', value: { outcome: 'completed' } });
    for (const { bookingId } of fine) expect(await em().count(BookingSchema, { id: bookingId })).toBe(1);
    expect(await em().count(ProcessedCommandSchema, { id: clash.job.id })).toBe(0);
  });

  it('expired holds in the members’ way are cleared by one statement; a live hold still refuses its member', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const lapsedWindow = hourlySlot((hoursAhead += 2));
    const liveWindow = hourlySlot((hoursAhead += 2));
    const hold = (window: { startsAt: string; endsAt: string }, expiresAt: Date) =>
      em().insert(ReservationSchema, { id: crypto.randomUUID(), spaceId, kind: 'hold', bookingId: null, startsAt: new Date(window.startsAt), endsAt: new Date(window.endsAt), expiresAt, createdAt: new Date() });
    const lapsed = await hold(lapsedWindow, new Date(Date.now() - 60_000));
    await hold(liveWindow, new Date(Date.now() + 3_600_000));

    const freed = [createJob({ window: lapsedWindow }), createJob()];
    const outcomes = await Promise.all(freed.map(({ job }) => runner.execute(job)));
    expect(runner.stats).toMatchObject({ groups: 1, grouped: 2 });
    for (const o of outcomes) expect(o).toMatchObject({ outcome: 'completed' });
    expect(await em().count(ReservationSchema, { id: lapsed })).toBe(0);
    // The member whose slot a hold freed evicts that space's availability too (its stored effects say so).
    expect((await em().findOneOrFail(ProcessedCommandSchema, freed[0]!.job.id)).effects?.spaceIds).toEqual([spaceId]);

    const blocked = createJob({ window: liveWindow });
    const [refused, fine] = await Promise.all([blocked, createJob()].map(({ job }) => runner.execute(job)));
    expect(refused).toMatchObject({ outcome: 'failed', error: { code: 'slot_unavailable' } });
    expect(fine).toMatchObject({ outcome: 'completed' });
  });

  it('a member seen before (its job redelivered) → it replays its stored outcome, the others still commit once', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const seen = createJob();
    const first = await executeCommand(stack.orm, seen.job, stack.hooks);
    const fresh = [createJob(), createJob()];
    const [again, ...others] = await Promise.all([seen, ...fresh].map(({ job }) => runner.execute(job)));

    expect(again).toEqual({ ...first, replayed: true });
    for (const o of others) expect(o).toMatchObject({ outcome: 'completed', replayed: false });
    for (const { bookingId } of [seen, ...fresh]) expect(await em().count(BookingSchema, { id: bookingId })).toBe(1);
  });

  it('after-commit fails → every member’s job fails for a retry; the retry replays from the inbox and redoes the work', async () => {
    let evictions = 0;
    const failing: CommandHooks = {
      afterCommit: async () => {
        evictions++;
        throw new Error('cache down');
      },
    };
    const runner = new GroupCommit(stack.orm, failing, 10);
    const jobs = [createJob(), createJob(), createJob()];
    const settled = await Promise.allSettled(jobs.map(({ job }) => runner.execute(job)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(evictions).toBe(1); // one shared after-commit step for the group
    // Committed all the same (the change and the inbox rows went together) …
    for (const { bookingId } of jobs) expect(await em().count(BookingSchema, { id: bookingId })).toBe(1);
    // … and each retry finds its row and redoes its after-commit work before reporting completed.
    const retry = new GroupCommit(stack.orm, stack.hooks, 10);
    const outcomes = await Promise.all(jobs.map(({ job }) => retry.execute(job)));
    for (const o of outcomes) expect(o).toMatchObject({ outcome: 'completed', replayed: true });
    await stack.marks.flush();
    for (const { bookingId } of jobs) expect((await em().findOneOrFail(OutboxSchema, { aggregateId: bookingId })).publishedAt).not.toBeNull();
  });

  it('writes exactly the rows the create handler writes alone (one planCreate, two ways to persist)', async () => {
    const guests = [{ name: 'Ada', email: 'ada@example.test' }, { name: 'Bob', email: 'bob@example.test' }];
    const single = createJob({ data: { attendees: 2, notes: 'alone', guests } });
    const grouped = createJob({ data: { attendees: 2, notes: 'alone', guests } });
    await executeCommand(stack.orm, single.job, stack.hooks);
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const outcomes = await Promise.all([grouped, createJob()].map(({ job }) => runner.execute(job)));
    expect(runner.stats).toMatchObject({ groups: 1, grouped: 2 });
    for (const o of outcomes) expect(o).toMatchObject({ outcome: 'completed' });

    await stack.marks.flush(); // both published, both marked
    // Every column of every row, but for what differs between two creates (ids, times, the slot).
    const rows = async (bookingId: string, jobId: string) => {
      const q = async (table: string, where: string, arg: string, order = 'id') =>
        ((await em().getConnection().execute(`select * from "${table}" where "${where}" = ? order by "${order}"`, [arg])) as Record<string, unknown>[]).map((r) =>
          Object.fromEntries(Object.entries(r).map(([k, v]) => [k, /(^|_)(id|at)$/.test(k) && v !== null ? typeof v : v])),
        );
      return {
        booking: await q('bookings', 'id', bookingId),
        guests: await q('guests', 'booking_id', bookingId, 'position'),
        reservation: await q('reservations', 'booking_id', bookingId),
        event: await q('booking_events', 'booking_id', bookingId),
        outbox: (await q('outbox', 'aggregate_id', bookingId)).map(({ payload, ...r }) => ({ ...r, payload: { ...(payload as object), bookingId: 0, startsAt: 0, endsAt: 0, timestamp: 0 } })),
        inbox: (await q('processed_commands', 'id', jobId)).map(({ result, effects, ...r }) => ({ ...r, result: { ...(result as object), bookingId: 0 }, effects: { ...(effects as object), bookingIds: 0, outboxIds: 0 } })),
      };
    };
    const a = await rows(single.bookingId, single.job.id);
    const b = await rows(grouped.bookingId, grouped.job.id);
    expect(a.booking).toHaveLength(1);
    expect(a.guests).toHaveLength(2);
    expect(a.booking[0]).toMatchObject({ attendees: 2, notes: 'alone', status: 'pending', version: 1, deleted_at: null, created_at: 'string' });
    expect(b).toEqual(a);
  });

  it('a member its checks refuse leaves the group before anything is written; the others still commit together', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 10);
    const tooMany = createJob({ data: { attendees: 99 } });
    const fine = [createJob(), createJob()];
    const [refused, ...others] = await Promise.all([tooMany, ...fine].map(({ job }) => runner.execute(job)));
    expect(runner.stats).toEqual({ groups: 1, grouped: 2, fellBack: 0 });
    expect(refused).toMatchObject({ outcome: 'failed', error: { code: expect.any(String) } });
    expect(await em().findOneOrFail(ProcessedCommandSchema, tooMany.job.id)).toMatchObject({ outcome: 'failed' });
    expect(await em().count(BookingSchema, { id: tooMany.bookingId })).toBe(0);
    for (const o of others) expect(o).toMatchObject({ outcome: 'completed', replayed: false });
  });

  it('a lone create is a group of one (two statements), and so is each create when groups may overlap', async () => {
    const lone = new GroupCommit(stack.orm, stack.hooks, 10);
    expect(await lone.execute(createJob().job)).toMatchObject({ outcome: 'completed' });
    expect(lone.stats).toEqual({ groups: 1, grouped: 1, fellBack: 0 });

    // Up to three groups in flight: jobs handed over one per turn start their own groups at once.
    const overlapping = new GroupCommit(stack.orm, stack.hooks, 10, 3);
    const jobs = Array.from({ length: 6 }, () => createJob());
    const outcomes = await Promise.all(jobs.map(async ({ job }, i) => {
      await new Promise((r) => setTimeout(r, i));
      return overlapping.execute(job);
    }));
    for (const o of outcomes) expect(o).toMatchObject({ outcome: 'completed' });
    expect(overlapping.stats).toMatchObject({ grouped: 6, fellBack: 0 });
    for (const { bookingId } of jobs) expect(await em().count(BookingSchema, { id: bookingId })).toBe(1);
  });

  it('COMMAND_GROUP_MAX=1 turns grouping off: every command its own transaction', async () => {
    const runner = new GroupCommit(stack.orm, stack.hooks, 1);
    const outcomes = await Promise.all([createJob(), createJob()].map(({ job }) => runner.execute(job)));
    for (const o of outcomes) expect(o).toMatchObject({ outcome: 'completed' });
    expect(runner.stats).toEqual({ groups: 0, grouped: 0, fellBack: 0 });
  });
});
