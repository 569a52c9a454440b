/**
 * Every cache key, in one place. Values live under `<QUEUE_PREFIX>:cache:`; all of them carry TTLs, so the cache
 * can share the queue's Redis (which must run `noeviction`).
 *
 * Generations (`gen:*`) are counters bumped after every commit that touches what they cover. List and
 * availability values are stamped with the generation they were stored under, so a bump makes old entries
 * unreadable without any SCAN/KEYS (the next store replaces them); a booking's detail key is deleted and its
 * generation bumped.
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
  /**
   * true: the value is stamped with the generation it was stored under, and read only under that one (lists);
   * false: the value is deleted on change (detail).
   */
  stamped: boolean;
}

export const slots = {
  bookingDetail: (id: string): CacheSlot => ({ keyspace: 'booking', genKey: gen.booking(id), valueKey: `booking:${id}`, stamped: false }),

  /**
   * A member's own list, or a staff list (scoped to a workspace when filtered by one), per query (page and page size
   * included). The value is the response body as sent; `bookings:body:` names that shape, so a process of a release
   * that stored another (`{items, total}` under `bookings:`, `[items JSON, total]` under `bookings:json:`, total and
   * items under `bookings:page:`, each under a key suffixed by its generation) never reads it, nor this one theirs:
   * lists are evicted by their generation, whatever the name.
   */
  bookingList: (
    scope: { userId: string } | { staff: true; workspaceId?: string | undefined; userId?: string | undefined },
    query: Record<string, unknown>,
  ): CacheSlot => {
    const q = Object.keys(query)
      .sort()
      .filter((k) => query[k] !== undefined)
      .map((k) => `${k}=${encodeURIComponent(String(query[k]))}`)
      .join('&');
    if (!('staff' in scope)) return { keyspace: 'bookings', genKey: gen.user(scope.userId), valueKey: `bookings:body:user:${scope.userId}:${q}`, stamped: true };
    // The narrowest generation that moves with every booking the list may hold: one member's, one workspace's, all.
    const genKey = scope.userId ? gen.user(scope.userId) : scope.workspaceId ? gen.workspace(scope.workspaceId) : gen.all();
    return { keyspace: 'bookings', genKey, valueKey: `bookings:body:staff:${q}`, stamped: true };
  },

  availability: (spaceId: string, from: string, to: string): CacheSlot => ({
    keyspace: 'availability',
    genKey: gen.space(spaceId),
    // Stamped since the release whose keys were suffixed with the generation (`…:g<n>`), which it never reads.
    valueKey: `availability:${spaceId}:${from}:${to}`,
    stamped: true,
  }),
};

export const cachePrefix = (queuePrefix: string) => `${queuePrefix}:cache:`;
