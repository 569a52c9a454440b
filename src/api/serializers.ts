import type { Booking, Space, Workspace } from '../db/entities/index.js';
import { usageDays } from '../domain/time-rules.js';

/** Entities → API JSON. Dates become ISO 8601 strings; nothing internal (deletedAt) leaks. */
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const workspaceDto = (w: Workspace) => ({
  id: w.id,
  name: w.name,
  timezone: w.timezone,
  currency: w.currency,
  taxRateBps: w.taxRateBps,
  createdAt: iso(w.createdAt),
  updatedAt: iso(w.updatedAt),
});

export const spaceDto = (s: Space) => ({
  id: s.id,
  workspaceId: s.workspaceId,
  name: s.name,
  kind: s.kind,
  capacity: s.capacity,
  hourlyRate: s.hourlyRate,
  dailyRate: s.dailyRate,
  monthlyRate: s.monthlyRate,
  active: s.active,
  createdAt: iso(s.createdAt),
  updatedAt: iso(s.updatedAt),
});

export const bookingDto = (b: Booking) => ({
  id: b.id,
  workspaceId: b.workspaceId,
  spaceId: b.spaceId,
  userId: b.userId,
  bookingType: b.bookingType,
  startsAt: iso(b.startsAt),
  endsAt: iso(b.endsAt),
  status: b.status,
  attendees: b.attendees,
  notes: b.notes ?? null,
  basePrice: b.basePrice,
  discountAmount: b.discountAmount,
  taxAmount: b.taxAmount,
  totalPrice: b.totalPrice,
  currency: b.currency,
  checkedInAt: isoOrNull(b.checkedInAt),
  checkedOutAt: isoOrNull(b.checkedOutAt),
  cancelledAt: isoOrNull(b.cancelledAt),
  cancellationReason: b.cancellationReason ?? null,
  noShow: b.noShow,
  version: b.version,
  createdAt: iso(b.createdAt),
  updatedAt: iso(b.updatedAt),
});

/** Detail adds the day counters, computed at read time in the workspace's time zone (so a cached entry stays right). */
export const withUsageDays = (dto: ReturnType<typeof bookingDto>, timezone: string, now: Date) => ({
  ...dto,
  ...usageDays({ startsAt: new Date(dto.startsAt), endsAt: new Date(dto.endsAt), timezone, now }),
});
