import type { Booking, Space, Workspace } from '../db/entities/index.js';
import { toLocal, WHOLE_MINUTE_OFFSETS_FROM } from '../domain/calendar.js';
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

/**
 * Detail adds the day counters, computed at read time in the workspace's time zone (so a cached entry stays right).
 * The domain's `usageDays` answers, without its cost on every read (luxon resolves a zone offset through Intl
 * formatting four times per call: a measured hot spot of cached detail reads). The domain computes each booking's
 * first answer; what depends only on the booking (total days, the local day number of its start) is remembered per
 * booking and zone, today's local day number per zone and UTC minute. Within one UTC minute the local date cannot
 * change: every UTC offset and transition in the tz database since 1972 falls on a whole minute (earlier `now`s,
 * with LMT offsets in seconds, always take the domain's path).
 */
// The detail route sends detailJson (below); this object form is the reference its bytes are tested against.
export const withUsageDays = (dto: BookingDto, timezone: string, now: Date) => ({ ...dto, ...usageDaysOf(dto, timezone, now) });

type BookingDto = ReturnType<typeof bookingDto>;
export type GuestDto = { id: string; name: string; email: string | null };

/**
 * A booking's detail as the read cache holds it: what a request needs to decide and finish its answer (the owner,
 * the zone, the dates) beside the JSON it sends, already serialized. Parsing the cached booking, spreading the day
 * counters into it and serializing it again was a third of a cached detail read's CPU in the API.
 */
export interface DetailEntry {
  userId: string;
  timezone: string;
  startsAt: string;
  endsAt: string;
  /** The booking's JSON less its closing brace. */
  head: string;
  /** The guests' JSON array. */
  guests: string;
}

export const detailEntry = (dto: BookingDto, guests: GuestDto[], timezone: string): DetailEntry => ({
  userId: dto.userId,
  timezone,
  startsAt: dto.startsAt,
  endsAt: dto.endsAt,
  head: JSON.stringify(dto).slice(0, -1),
  guests: JSON.stringify(guests),
});

/** The detail's bytes: those of `JSON.stringify({ ...withUsageDays(dto, timezone, now), guests })`. */
export function detailJson(e: DetailEntry, now: Date): string {
  const d = usageDaysOf(e, e.timezone, now);
  return `${e.head},"totalDays":${d.totalDays},"daysUsed":${d.daysUsed},"daysRemaining":${d.daysRemaining},"guests":${e.guests}}`;
}

const DETAIL_TAG = 'detail1';

/**
 * The cached form of a DetailEntry: its fields one per line (none holds a newline: JSON escapes them, and ids, zone
 * names and ISO dates have none), so reading it parses nothing. Not JSON on purpose: a process of the release before,
 * which stored `{booking, guests, timezone}` under the same key, fails to parse it and reads Postgres (counted as a
 * cache error) instead of misreading it; this one still reads what that release stored.
 */
export const detailCodec = {
  encode: (e: DetailEntry) => [DETAIL_TAG, e.userId, e.timezone, e.startsAt, e.endsAt, e.head, e.guests].join('\n'),
  decode(raw: Buffer): DetailEntry {
    const s = raw.toString();
    if (s.startsWith('{')) {
      const old = JSON.parse(s) as { booking: BookingDto; guests?: GuestDto[]; timezone: string };
      return detailEntry(old.booking, old.guests ?? [], old.timezone);
    }
    const f = s.split('\n');
    if (f.length !== 7 || f[0] !== DETAIL_TAG) throw new Error('unreadable cached booking detail');
    return { userId: f[1]!, timezone: f[2]!, startsAt: f[3]!, endsAt: f[4]!, head: f[5]!, guests: f[6]! };
  },
};

const MS_PER_DAY = 86_400_000;
const dayNumber = (d: Date, timezone: string) => {
  const local = toLocal(d, timezone);
  return Date.UTC(local.year, local.month - 1, local.day) / MS_PER_DAY;
};

const bookingDays = new Map<string, { totalDays: number; startMs: number; startDay: number }>();
const todays = new Map<string, { minute: number; day: number }>();

function usageDaysOf(dto: { startsAt: string; endsAt: string }, timezone: string, now: Date) {
  const nowMs = now.getTime();
  const exact = () => usageDays({ startsAt: new Date(dto.startsAt), endsAt: new Date(dto.endsAt), timezone, now });
  if (!(nowMs >= WHOLE_MINUTE_OFFSETS_FROM)) return exact();
  const key = `${timezone}\u0000${dto.startsAt}\u0000${dto.endsAt}`;
  const booking = bookingDays.get(key);
  if (!booking) {
    // First sight: the domain's answer, which also validates the zone and the dates (it throws before we remember).
    const answer = exact();
    const startsAt = new Date(dto.startsAt);
    if (bookingDays.size >= 20_000) bookingDays.clear();
    bookingDays.set(key, { totalDays: answer.totalDays, startMs: startsAt.getTime(), startDay: dayNumber(startsAt, timezone) });
    return answer;
  }
  const { totalDays, startMs, startDay } = booking;
  let daysUsed = 0;
  if (nowMs >= startMs) {
    const minute = Math.floor(nowMs / 60_000);
    let today = todays.get(timezone);
    if (!today || today.minute !== minute) {
      today = { minute, day: dayNumber(now, timezone) };
      if (todays.size >= 1000) todays.clear();
      todays.set(timezone, today);
    }
    daysUsed = Math.min(totalDays, today.day - startDay + 1);
  }
  return { totalDays, daysUsed, daysRemaining: totalDays - daysUsed };
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** A list page's response body, `JSON.stringify({ items, page, pageSize, total })`, as UTF-8 bytes. */
export const pageBody = (items: unknown[], page: number, pageSize: number, total: number): Buffer => Buffer.from(JSON.stringify({ items, page, pageSize, total }));

/**
 * A cached list page is its response body (its key holds the page and page size): a hit is sent as the bytes that
 * came from Redis, never decoded (decoding a page of 20 bookings into a string and encoding it again cost a tenth of
 * a cached list read's CPU; splicing the page's numbers around cached items, a copy of the page and its garbage).
 */
export const pageCodec = {
  encode: (body: Buffer) => body,
  decode(raw: Buffer): Buffer {
    if (raw[0] !== OPEN_BRACE || raw[raw.length - 1] !== CLOSE_BRACE) throw new Error('unreadable cached page');
    return raw;
  },
};
