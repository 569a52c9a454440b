import { BookingReviewSchema } from '../db/entities/index.js';
import { DomainError } from '../domain/errors.js';
import { assertMayReview } from '../domain/reviews.js';
import type { CommandName } from '../jobs/catalogue.js';
import type { CommandHandler } from './booking.commands.js';

/**
 * A member reviews one of their own completed bookings, once, if they came: a no-show (confirmed, never checked in,
 * completed by the sweep or by staff) has nothing to say about the space. The booking is locked so the status check and the
 * insert see the same booking; "once" is the database's UNIQUE (booking_id), which run-command translates to
 * `already_reviewed` for two reviews racing past the check below.
 */
const create: CommandHandler<'review.create'> = async (ctx, p) => {
  const booking = await ctx.lockBooking(p.bookingId);
  assertMayReview(booking, p.actor.id);
  if (booking.status !== 'completed')
    throw new DomainError('invalid_transition', `Only completed bookings can be reviewed; this one is ${booking.status}`, {
      from: booking.status,
      action: 'review',
    });
  if (booking.noShow)
    throw new DomainError('invalid_transition', 'This booking was a no-show (never checked in), so it cannot be reviewed', {
      from: booking.status,
      noShow: true,
      action: 'review',
    });
  if (await ctx.em.count(BookingReviewSchema, { bookingId: booking.id }))
    throw new DomainError('already_reviewed', 'This booking has already been reviewed', { bookingId: booking.id });
  ctx.em.create(BookingReviewSchema, {
    id: p.reviewId,
    bookingId: booking.id,
    userId: p.actor.id,
    workspaceId: booking.workspaceId,
    spaceId: booking.spaceId,
    rating: p.rating,
    comment: p.comment,
    commandId: ctx.commandId,
  });
  return { reviewId: p.reviewId, bookingId: booking.id, status: 'published', rating: p.rating };
};

export const reviewCommandHandlers: { [N in Extract<CommandName, `review.${string}`>]: CommandHandler<N> } = {
  'review.create': create,
};
