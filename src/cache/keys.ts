/**
 * Every cache key, in one place. Values live under `<QUEUE_PREFIX>:cache:`; all of them carry TTLs, so the cache
 * can share the queue's Redis (which must run `noeviction`).
 *
 * Generations (`gen:*`) are counters bumped after every commit that touches what they cover. List and
 * availability keys embed the generation, so a bump makes old entries unreachable without any SCAN/KEYS;
 * a booking's detail key is deleted and its generation bumped.
 */
export type Keyspace = 'booking' | 'bookings' | 'availability';

export const gen = {
  booking: (id: string) => `gen:booking:${id}`,
  user: (id: string) => `gen:user:${id}`,
  workspace: (id: string) => `gen:ws:${id}`,
  space: (id: string) => `gen:space:${id}`,
  /** Staff lists that span every workspace. */
  all: () => 'gen:all',
};

export interface CacheSlot {
  keyspace: Keyspace;
  genKey: string;
  valueKey: string;
  /** true: the value key is suffixed with the generation (lists); false: it is deleted on change (detail). */
  versioned: boolean;
}

export const slots = {
  bookingDetail: (id: string): CacheSlot => ({ keyspace: 'booking', genKey: gen.booking(id), valueKey: `booking:${id}`, versioned: false }),

  /**
   * A member's own list, or a staff list (scoped to a workspace when filtered by one). The value is the page's total
   * and its items' JSON (see pageCodec in the list route's serializers); `bookings:page:` names that shape, so a
   * process of a release that stored another (`{items, total}` under `bookings:`, `[items JSON, total]` under
   * `bookings:json:`) never reads it, nor this one theirs: lists are evicted by their generation, whatever the name.
   */
  bookingList: (scope: { userId: string } | { staff: true; workspaceId?: string | undefined }, query: Record<string, unknown>): CacheSlot => {
    const q = Object.keys(query)
      .sort()
      .filter((k) => query[k] !== undefined)
      .map((k) => `${k}=${encodeURIComponent(String(query[k]))}`)
      .join('&');
    if ('userId' in scope) return { keyspace: 'bookings', genKey: gen.user(scope.userId), valueKey: `bookings:page:user:${scope.userId}:${q}`, versioned: true };
    const genKey = scope.workspaceId ? gen.workspace(scope.workspaceId) : gen.all();
    return { keyspace: 'bookings', genKey, valueKey: `bookings:page:staff:${q}`, versioned: true };
  },

  availability: (spaceId: string, from: string, to: string): CacheSlot => ({
    keyspace: 'availability',
    genKey: gen.space(spaceId),
    valueKey: `availability:${spaceId}:${from}:${to}`,
    versioned: true,
  }),
};

export const cachePrefix = (queuePrefix: string) => `${queuePrefix}:cache:`;
