import { DomainError } from './errors.js';

/**
 * Who may review a booking: only the member who made it. Staff can see and manage every booking but review none
 * of another's: a review is the guest's own word. The API refuses with 403 before enqueueing; the worker checks
 * again against the locked booking.
 */
export function assertMayReview(booking: { userId: string }, actorId: string): void {
  if (booking.userId !== actorId) throw new DomainError('forbidden', 'Only the member who made a booking may review it');
}
