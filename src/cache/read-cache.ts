import type { Redis } from 'ioredis';
import type { CommandEffects } from '../commands/context.js';
import type { AppConfig } from '../config.js';
import { cacheErrors, cacheEvictions, cacheRequests, cacheStoresSkipped } from '../metrics.js';
import { cachePrefix, gen, type CacheSlot } from './keys.js';

/**
 * Read-through cache with generation-checked stores (DESIGN.md invariant 4: no stale read after a job completes).
 *
 * Why generations and not just DEL: a reader that missed, read Postgres, and was slow could otherwise SET the old
 * value back after a worker committed and deleted the key. So a reader observes the slot's generation *before*
 * its database read (atomically with the lookup), and the store succeeds only if the generation is unchanged
 * (atomically, in Lua). Workers bump generations after commit; a bump between the reader's lookup and its store
 * makes the store a no-op. List keys embed the generation, so a bump also makes every old list page unreachable
 * without SCAN. Generation keys outlive every value stored under them (their TTL is refreshed on each store).
 *
 * Every Redis failure degrades to Postgres and is counted; a cache error never fails a read.
 */
const LOOKUP = `
local g = redis.call('GET', KEYS[1]) or '0'
local k = KEYS[2]
if ARGV[1] == '1' then k = k .. ':g' .. g end
return {g, redis.call('GET', k)}`;

const STORE = `
local cur = redis.call('GET', KEYS[1])
if cur == false then
  if ARGV[2] ~= '0' then return 0 end
  redis.call('SET', KEYS[1], '0', 'EX', ARGV[5], 'NX')
elseif cur ~= ARGV[2] then
  return 0
end
local k = KEYS[2]
if ARGV[1] == '1' then k = k .. ':g' .. ARGV[2] end
redis.call('SET', k, ARGV[3], 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1`;

type CacheCommands = {
  cacheLookup(genKey: string, valueKey: string, versioned: string): Promise<[string | null, string | null | undefined]>;
  cacheStore(genKey: string, valueKey: string, versioned: string, generation: string, value: string, ttl: number, genTtl: number): Promise<number>;
};

export class ReadCache {
  private readonly client: Redis & CacheCommands;
  private readonly genTtl: number;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** false: reads go straight to Postgres (CACHE_ENABLED=false); eviction still runs, so turning it on is safe. */
    private readonly enabled = true,
  ) {
    redis.defineCommand('cacheLookup', { numberOfKeys: 2, lua: LOOKUP });
    redis.defineCommand('cacheStore', { numberOfKeys: 2, lua: STORE });
    this.client = redis as Redis & CacheCommands;
    this.genTtl = ttlSeconds * 2;
  }

  /** The cached value of `slot`, or `load()`'s result (stored if it is not null and the generation held). */
  async through<T>(slot: CacheSlot, load: () => Promise<T | null>): Promise<T | null> {
    if (!this.enabled) return load();
    const genKey = this.prefix + slot.genKey;
    const valueKey = this.prefix + slot.valueKey;
    const versioned = slot.versioned ? '1' : '0';
    let observed: string | undefined;
    try {
      // A detail key is not versioned: one MGET reads both atomically, cheaper for Redis than running the script.
      const [generation, cached] = slot.versioned
        ? await this.client.cacheLookup(genKey, valueKey, versioned)
        : ((await this.client.mget(genKey, valueKey)) as [string | null, string | null]);
      if (cached != null) {
        cacheRequests.inc({ keyspace: slot.keyspace, result: 'hit' });
        return JSON.parse(cached) as T;
      }
      observed = generation ?? '0';
      cacheRequests.inc({ keyspace: slot.keyspace, result: 'miss' });
    } catch {
      cacheRequests.inc({ keyspace: slot.keyspace, result: 'error' });
      cacheErrors.inc({ op: 'lookup' });
    }
    const value = await load();
    if (value !== null && observed !== undefined) {
      try {
        const stored = await this.client.cacheStore(genKey, valueKey, versioned, observed, JSON.stringify(value), this.ttlSeconds, this.genTtl);
        if (!stored) cacheStoresSkipped.inc({ keyspace: slot.keyspace });
      } catch {
        cacheErrors.inc({ op: 'store' });
      }
    }
    return value;
  }

  /** After a commit: delete the detail keys and bump every generation the change touched, in one round trip. */
  async evict(effects: Pick<CommandEffects, 'bookingIds' | 'userIds' | 'workspaceIds' | 'spaceIds'>): Promise<void> {
    if (!effects.bookingIds.size && !effects.userIds.size && !effects.workspaceIds.size && !effects.spaceIds.size) return;
    const multi = this.client.multi();
    const bump = (key: string) => multi.incr(this.prefix + key).expire(this.prefix + key, this.genTtl);
    for (const id of effects.bookingIds) {
      multi.del(`${this.prefix}booking:${id}`);
      bump(gen.booking(id));
    }
    for (const id of effects.userIds) bump(gen.user(id));
    for (const id of effects.workspaceIds) bump(gen.workspace(id));
    for (const id of effects.spaceIds) bump(gen.space(id));
    bump(gen.all());
    try {
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      cacheErrors.inc({ op: 'evict' });
      throw err;
    }
    cacheEvictions.inc({ kind: 'booking' }, effects.bookingIds.size);
    cacheEvictions.inc({ kind: 'generation' }, effects.userIds.size + effects.workspaceIds.size + effects.spaceIds.size + effects.bookingIds.size + 1);
  }
}

/** The cache as configured: its key prefix, TTL and on/off switch, on the given connection (CACHE_REDIS_URL). */
export const createReadCache = (redis: Redis, config: Pick<AppConfig, 'queue' | 'cache'>) =>
  new ReadCache(redis, cachePrefix(config.queue.prefix), config.cache.ttlSeconds, config.cache.enabled);
