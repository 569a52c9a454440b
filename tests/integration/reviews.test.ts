import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toRefusal } from '../../src/commands/run-command.js';
import { BookingReviewSchema, BookingSchema } from '../../src/db/entities/index.js';
import { runSweep } from '../../src/maintenance/sweeps.js';
import { act, admin, createBooking, hourlySlot, seedSpace, waitForJob } from '../helpers/factories.js';
import { makeUser, startStack, type Stack, type TestUser } from '../helpers/stack.js';

let stack: Stack;
let spaceId: string;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '10' } });
  spaceId = (await seedSpace(stack)).space.id;
});
afterAll(() => stack?.close());

const em = () => stack.orm.em.fork();
let hoursAhead = 24;

/** A confirmed booking of `user`, an hour long, starting `hoursAhead` from now (a fresh slot each call). */
async function confirmedBooking(user: TestUser, space: string) {
  hoursAhead += 2;
  const window = hourlySlot(hoursAhead);
  const id: string = (await createBooking(stack, user, space, window)).body.result.bookingId;
  expect((await act(stack, staff, id, 'confirm')).body).toMatchObject({ state: 'completed' });
  return { id, window };
}

/**
 * A booking of `user` that took place: confirmed, checked in at its start and out ten minutes before its end. The
 * check-in and check-out are added to the queue as the API adds them, stamped with those times (commands are judged
 * at their request time), since the slot is in the future.
 */
async function completedBooking(user: TestUser = member, space = spaceId): Promise<string> {
  const { id, window } = await confirmedBooking(user, space);
  const at = { 'booking.check-in': Date.parse(window.startsAt), 'booking.check-out': Date.parse(window.endsAt) - 10 * 60_000 };
  for (const [name, time] of Object.entries(at)) {
    const job = await stack.queues.commands.add(name, { bookingId: id, actor: { id: user.id, role: user.role }, requestedAt: new Date(time).toISOString() });
    expect(await waitForJob(stack, user, job.id!), name).toMatchObject({ state: 'completed' });
  }
  return id;
}

const review = (user: TestUser, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  stack.request('POST', '/api/v1/booking/reviews', { as: user, wait: 10, body, headers });

describe('reviews: POST /booking/reviews is a command', () => {
  it('reviews a completed booking: 202 with ids, then listed by booking and by space with the average', async () => {
    const bookingId = await completedBooking();
    const accepted = await stack.request('POST', '/api/v1/booking/reviews', { as: member, body: { bookingId, rating: 4, comment: 'Quiet and bright' } });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ jobId: expect.any(String), reviewId: expect.any(String), bookingId });
    expect(await waitForJob(stack, member, accepted.body.jobId)).toMatchObject({ state: 'completed', result: { reviewId: accepted.body.reviewId, status: 'published' } });
    const done = await review(member, { bookingId, rating: 4, comment: 'Quiet and bright' });
    // A second request without a key is a second command: refused, one per booking.
    expect(done.body).toMatchObject({ state: 'failed', error: { code: 'already_reviewed' } });

    const byBooking = await stack.request('GET', `/api/v1/booking/reviews?bookingId=${bookingId}`, { as: makeUser('member') });
    expect(byBooking.status).toBe(200);
    expect(byBooking.body).toMatchObject({
      total: 1,
      spaceId,
      items: [{ id: accepted.body.reviewId, bookingId, spaceId, userId: member.id, rating: 4, comment: 'Quiet and bright' }],
      averageRating: 4,
      ratingCount: 1,
    });

    const second = await completedBooking();
    expect((await review(member, { bookingId: second, rating: 5 })).body).toMatchObject({ state: 'completed', result: { bookingId: second, status: 'published' } });
    const bySpace = await stack.request('GET', `/api/v1/booking/reviews?spaceId=${spaceId}`, { as: staff });
    expect(bySpace.body).toMatchObject({ total: 2, averageRating: 4.5, ratingCount: 2 });
    expect(bySpace.body.items.map((r: { rating: number }) => r.rating)).toEqual([5, 4]);
  });

  it('refuses a booking that is not completed (invalid_transition)', async () => {
    const created = await createBooking(stack, member, spaceId, hourlySlot(500));
    const res = await review(member, { bookingId: created.body.result.bookingId, rating: 5 });
    expect(res.body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
    expect(res.body.attemptsMade).toBe(1);
  });

  it('refuses a no-show: a confirmed booking the sweep completed, never checked in (invalid_transition)', async () => {
    const { id, window } = await confirmedBooking(member, spaceId);
    await runSweep(stack.orm, 'sweep.auto-complete', new Date(Date.parse(window.endsAt) + 60_000), stack.hooks);
    expect(await em().findOneOrFail(BookingSchema, id)).toMatchObject({ status: 'completed', noShow: true });
    const res = await review(member, { bookingId: id, rating: 1 });
    expect(res.body).toMatchObject({
      state: 'failed',
      error: { code: 'invalid_transition', message: 'This booking was a no-show (never checked in), so it cannot be reviewed' },
    });
    expect(res.body.attemptsMade).toBe(1);
    expect(await em().count(BookingReviewSchema, { bookingId: id })).toBe(0);
  });

  it('one review per booking, also when two race', async () => {
    const bookingId = await completedBooking();
    const res = await Promise.all([review(member, { bookingId, rating: 3 }), review(member, { bookingId, rating: 2 })]);
    expect(res.map((r) => r.body.state).sort()).toEqual(['completed', 'failed']);
    expect(res.find((r) => r.body.state === 'failed')!.body.error.code).toBe('already_reviewed');
    expect(await em().count(BookingReviewSchema, { bookingId })).toBe(1);

    // Behind the handler's check, the database refuses a second row, and the refusal reads already_reviewed.
    const existing = await em().findOneOrFail(BookingReviewSchema, { bookingId });
    const fork = em();
    fork.create(BookingReviewSchema, { ...existing, id: crypto.randomUUID() });
    const e = await fork.flush().then(() => undefined, (err: unknown) => err);
    expect(toRefusal(e)?.code).toBe('already_reviewed');
  });

  it('an Idempotency-Key replay returns the first result', async () => {
    const bookingId = await completedBooking();
    const headers = { 'idempotency-key': `review-${bookingId}` };
    const first = await review(member, { bookingId, rating: 5 }, headers);
    const again = await review(member, { bookingId, rating: 5 }, headers);
    expect(again.body).toMatchObject({ id: first.body.id, state: 'completed', result: first.body.result });
    expect(await em().count(BookingReviewSchema, { bookingId })).toBe(1);
  });

  it('ratings outside 1–5, missing fields and unknown keys are 400 and enqueue nothing', async () => {
    const bookingId = await completedBooking();
    for (const body of [
      { bookingId, rating: 0 },
      { bookingId, rating: 6 },
      { bookingId, rating: 4.5 },
      { bookingId },
      { bookingId, rating: 4, stars: 4 },
    ]) {
      const res = await review(member, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_error');
    }
    expect(await em().count(BookingReviewSchema, { bookingId })).toBe(0);
  });

  it('only the owner reviews: another member gets 404, staff and admin 403 (nothing enqueued)', async () => {
    const bookingId = await completedBooking();
    expect((await review(makeUser('member'), { bookingId, rating: 1 })).status).toBe(404);
    const allJobs = () => stack.queues.commands.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    const jobsBefore = await allJobs();
    for (const who of [staff, admin]) {
      const res = await review(who, { bookingId, rating: 1 });
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'forbidden', message: 'Only the member who made a booking may review it' });
    }
    expect(await allJobs()).toBe(jobsBefore);
    // And in the worker too: a review job naming another's booking (queued before the API refused such requests,
    // or by anything but the API) fails forbidden.
    const job = await stack.queues.commands.add('review.create', {
      reviewId: crypto.randomUUID(), bookingId, rating: 1, comment: null, actor: { id: staff.id, role: 'staff' }, requestedAt: new Date().toISOString(),
    });
    expect(await waitForJob(stack, staff, job.id!)).toMatchObject({ state: 'failed', error: { code: 'forbidden' } });
    expect(await em().count(BookingReviewSchema, { bookingId })).toBe(0);
  });

  it('GET needs bookingId or spaceId, and 404s an unknown one', async () => {
    expect((await stack.request('GET', '/api/v1/booking/reviews', { as: member })).status).toBe(400);
    expect((await stack.request('GET', `/api/v1/booking/reviews?spaceId=${crypto.randomUUID()}`, { as: member })).status).toBe(404);
    expect((await stack.request('GET', `/api/v1/booking/reviews?bookingId=${crypto.randomUUID()}`, { as: member })).status).toBe(404);
    // Another member's booking with no review is as unknown as a random id (no existence, no spaceId); its owner and
    // staff list it (empty).
    const unreviewed = (await createBooking(stack, member, spaceId, hourlySlot(600))).body.result.bookingId;
    const stranger = await stack.request('GET', `/api/v1/booking/reviews?bookingId=${unreviewed}`, { as: makeUser('member') });
    expect(stranger.status).toBe(404);
    expect(stranger.body.error.code).toBe('not_found');
    expect(JSON.stringify(stranger.body)).not.toContain(spaceId);
    for (const who of [member, staff]) {
      const own = await stack.request('GET', `/api/v1/booking/reviews?bookingId=${unreviewed}`, { as: who });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ items: [], total: 0, spaceId });
    }
    const empty = await seedSpace(stack);
    expect((await stack.request('GET', `/api/v1/booking/reviews?spaceId=${empty.space.id}`, { as: member })).body).toMatchObject({ items: [], total: 0, averageRating: null, ratingCount: 0 });
  });
});
