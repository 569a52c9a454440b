import { createRoute } from '@hono/zod-openapi';
import { BookingReviewSchema, BookingSchema, SpaceSchema, type BookingReview } from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import { assertMayReview } from '../../domain/reviews.js';
import * as C from '../cart.schemas.js';
import { isStaffRole, type AppDeps, type AppEnv } from '../context.js';
import * as S from '../schemas.js';
import { commandIdentity, submitCommand } from '../submit-command.js';
import { json } from '../openapi-helpers.js';
import { findAndCount } from '../../db/orm.js';
import { apiRouter } from '../router.js';

const tags = ['reviews'];
const base = '/booking/reviews';

const createReview = createRoute({
  method: 'post', path: base, tags, summary: 'Review one of your completed bookings (enqueues review.create)',
  description: 'One review per booking, by its owner (staff and admin: 403). The job fails `invalid_transition` unless the booking is completed and was not a no-show (`noShow`), `already_reviewed` for a second one.',
  request: { headers: S.CommandHeaders, body: { content: { 'application/json': { schema: C.ReviewInput } }, required: true } },
  responses: S.commandResponses,
});
const listReviews = createRoute({
  method: 'get', path: base, tags, summary: "Reviews of a booking or a space, with the space's average rating",
  request: { query: C.ReviewListQuery },
  responses: { 200: json(C.ReviewList, 'A page of reviews, newest first'), ...S.errors },
});

const reviewDto = (r: BookingReview) => ({
  id: r.id,
  bookingId: r.bookingId,
  spaceId: r.spaceId,
  workspaceId: r.workspaceId,
  userId: r.userId,
  rating: r.rating,
  comment: r.comment ?? null,
  createdAt: r.createdAt.toISOString(),
});

export function reviewRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();

  app.openapi(createReview, async (c) => {
    const user = c.get('user');
    const input = c.req.valid('json');
    const booking = await em().findOne(BookingSchema, { id: input.bookingId, deletedAt: null });
    // Another member's booking is unknown to a member (404, as its detail is); staff see it, but may not review it.
    if (!booking || (!isStaffRole(user.role) && booking.userId !== user.id)) throw new DomainError('not_found', `Booking ${input.bookingId} not found`);
    assertMayReview(booking, user.id);
    const identity = commandIdentity(c);
    const reviewId = identity.newId;
    const fields = { reviewId, bookingId: booking.id, rating: input.rating, comment: input.comment ?? null };
    return (await submitCommand(c, deps, 'review.create', fields, identity, { reviewId, bookingId: booking.id })) as never;
  });

  /** Reviews are public to every signed-in user (no names, only user ids); bookings are not. */
  app.openapi(listReviews, async (c) => {
    const q = c.req.valid('query');
    const fork = em();
    let spaceId = q.spaceId;
    if (q.bookingId) {
      const booking = await fork.findOne(BookingSchema, { id: q.bookingId, deletedAt: null });
      // A booking another member owns is as unknown here as on GET /booking/bookings/{id}, unless it has a review
      // (reviews, with their booking ids, are public): else this would tell its existence and its space.
      const user = c.get('user');
      const visible = booking && (isStaffRole(user.role) || booking.userId === user.id || (await fork.count(BookingReviewSchema, { bookingId: booking.id })) > 0);
      if (!booking || !visible) throw new DomainError('not_found', `Booking ${q.bookingId} not found`);
      spaceId ??= booking.spaceId;
    } else if (!(await fork.count(SpaceSchema, { id: spaceId! }))) {
      throw new DomainError('not_found', `Space ${spaceId} not found`);
    }
    const where = { ...(q.bookingId ? { bookingId: q.bookingId } : {}), ...(q.spaceId ? { spaceId: q.spaceId } : {}) };
    const [items, total] = await findAndCount(fork, BookingReviewSchema, where, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: q.pageSize,
      offset: (q.page - 1) * q.pageSize,
    });
    const [stats] = await fork.execute<{ average: string | null; count: number }[]>(
      'select round(avg("rating"), 2)::text as "average", count(*)::int as "count" from "booking_reviews" where "space_id" = ?',
      [spaceId],
    );
    return c.json(
      {
        items: items.map(reviewDto),
        page: q.page,
        pageSize: q.pageSize,
        total,
        spaceId: spaceId!,
        averageRating: stats?.average == null ? null : Number(stats.average),
        ratingCount: stats?.count ?? 0,
      },
      200,
    );
  });

  return app;
}
