import type { Redis } from 'ioredis';
import type { CommandEffects } from '../commands/context.js';
import type { AppConfig } from '../config.js';
import { cacheErrors, cacheEvictions, cacheRequests, cacheStoresSkipped } from '../metrics.js';
import { Batcher } from '../batch.js';
import { cachePrefix, gen, slots, type CacheSlot } from './keys.js';

/**
 * Read-through cache with generation-checked stores (DESIGN.md invariant 4: no stale read after a job completes).
 *
 * Why generations and not just DEL: a reader that missed, read Postgres, and was slow could otherwise SET the old
 * value back after a worker committed and deleted the key. So a reader observes the slot's generation *before*
 * its database read (atomically with the lookup: one MGET of the generation and the value), and the store succeeds
 * only if the generation is unchanged (atomically, in Lua). Workers bump generations after commit; a bump between
 * the reader's lookup and its store makes the store a no-op. A list's value carries the generation it was stored
 * under (a stamp line before it), and a value whose stamp is not the current generation is a miss: a bump makes
 * every old list page unreadable without SCAN, and the next store replaces it. Generation keys outlive every value
 * stored under them (their TTL is refreshed on each store, to twice the values').
 *
 * Every Redis failure degrades to Postgres and is counted; a cache error never fails a read.
 */
/**
 * A generation that starts (a slot seen for the first time, or its key gone: expired, or evicted by an evicting
 * cache Redis) starts at Redis's clock in microseconds, never at 0 or 1: a value a slot's earlier generation had is
 * then never met again, so an entry stamped under it is never read back as current (an INCR from nothing would
 * recreate 1, the first value of the generation it replaced). Bumps after that are INCRs, each ≤ 1 per µs of the
 * generation's life, so they never catch up with the next start. Integers still, so any process INCRs them alike.
 */
const GENERATION_START = `local t = redis.call('TIME')
local start = t[1] .. string.format('%06d', tonumber(t[2]))`;

/**
 * Stores ARGV[2] under KEYS[2] if the generation KEYS[1] is still ARGV[1] ('': the lookup found none, and one is
 * started here), stamped with that generation when ARGV[5] is '1'. ARGV: generation, value, value TTL, generation
 * TTL, stamped.
 */
const STORE = `
local cur = redis.call('GET', KEYS[1])
if cur == false then
  if ARGV[1] ~= '' then return 0 end
  ${GENERATION_START}
  cur = start
  redis.call('SET', KEYS[1], cur, 'EX', ARGV[4])
elseif cur ~= ARGV[1] then
  return 0
end
local value = ARGV[2]
if ARGV[5] == '1' then value = cur .. '\\n' .. value end
redis.call('SET', KEYS[2], value, 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1`;

/**
 * An eviction, atomic as the MULTI it replaces: deletes the first ARGV[2] keys (detail entries), then bumps each
 * generation after them (an INCR, or a start if it has none) and sets its TTL to ARGV[1]. One script, not a MULTI:
 * see src/jobs/corked-writes.ts for what building one costs.
 */
const EVICT = `
${GENERATION_START}
local deletes = tonumber(ARGV[2])
for i = 1, deletes do redis.call('DEL', KEYS[i]) end
for i = deletes + 1, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, start) end
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS - deletes`;

const NEWLINE = 0x0a;

type CacheCommands = {
  cacheStore(genKey: string, valueKey: string, generation: string, value: string | Buffer, ttl: number, genTtl: number, stamped: '0' | '1'): Promise<number>;
  cacheEvict(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number>;
};

/**
 * How a value is stored. Values come back as bytes: a codec that sends them on as they are (a list page) skips
 * decoding them into a string and encoding them again for the response.
 */
export interface CacheCodec<T> {
  encode(value: T): string | Buffer;
  /** Throws on a value it cannot read. */
  decode(raw: Buffer): T;
}
const JSON_CODEC: CacheCodec<never> = { encode: (v) => JSON.stringify(v), decode: (raw) => JSON.parse(raw.toString()) as never };

type Lookup = { genKey: string; valueKey: string; stamped: boolean };
/** A slot's generation and cached value, or the error of the round trip that should have read them. */
type Found = { generation: string; cached: Buffer | null } | { error: unknown };

/** What an eviction drops: the detail entries of these bookings, and the list generations of these owners. */
export type EvictionTargets = Pick<CommandEffects, 'bookingIds' | 'userIds' | 'workspaceIds' | 'spaceIds'>;

export class ReadCache {
  private readonly client: Redis & CacheCommands;
  private readonly genTtl: number;
  /**
   * The lookups of the requests served in one event-loop turn go to Redis together, as one MGET of each slot's
   * generation and value (src/batch.ts): a socket write per lookup, each waking Redis, was the largest share of a
   * cached read's CPU in the API (a quarter of it, by --cpu-prof at 50 connections). ioredis' auto-pipelining did not
   * do this: it groups the commands of one tick, and Node runs the ticks queued by each socket's data before reading
   * the next socket, so requests never shared one. MGET reads each pair atomically; lists' generations are compared
   * with their values' stamps here, not in a script (with the script, Redis spent about twice the CPU per list read).
   * A failed round trip answers its error to each lookup (no retry alone: a connection's failure is every lookup's).
   */
  private readonly lookups = new Batcher<Lookup, Found>(async (items) => {
    try {
      const flat = (await this.client.mgetBuffer(items.flatMap((l) => [l.genKey, l.valueKey]))) as (Buffer | null)[];
      return items.map((l, i) => {
        // A slot without a generation has no current stamped value, whatever is left under its key.
        const generation = flat[2 * i]?.toString('latin1') ?? '';
        const raw = flat[2 * i + 1] ?? null;
        return { generation, cached: raw && l.stamped ? (generation ? unstamp(raw, generation) : null) : raw };
      });
    } catch (error) {
      return items.map(() => ({ error }));
    }
  });

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** false: reads go straight to Postgres (CACHE_ENABLED=false); eviction still runs, so turning it on is safe. */
    private readonly enabled = true,
  ) {
    redis.defineCommand('cacheStore', { numberOfKeys: 2, lua: STORE });
    redis.defineCommand('cacheEvict', { lua: EVICT });
    this.client = redis as Redis & CacheCommands;
    this.genTtl = ttlSeconds * 2;
  }

  /**
   * The cached value of `slot`, or `load()`'s result (stored if it is not null and the generation held). Values are
   * JSON unless the caller brings its own codec; a value its codec cannot decode is a cache error (Postgres answers).
   */
  async through<T>(slot: CacheSlot, load: () => Promise<T | null>, codec: CacheCodec<T> = JSON_CODEC): Promise<T | null> {
    if (!this.enabled) return load();
    const genKey = this.prefix + slot.genKey;
    const valueKey = this.prefix + slot.valueKey;
    let observed: string | undefined;
    const found = await this.lookups.load({ genKey, valueKey, stamped: slot.stamped });
    const lookupFailed = () => {
      cacheRequests.inc({ keyspace: slot.keyspace, result: 'error' });
      cacheErrors.inc({ op: 'lookup' });
    };
    if ('error' in found) {
      // Redis failed: Postgres answers, and nothing is stored.
      lookupFailed();
    } else {
      if (found.cached != null) {
        try {
          const value = codec.decode(found.cached);
          cacheRequests.inc({ keyspace: slot.keyspace, result: 'hit' });
          return value;
        } catch {
          // Something unreadable (another release's shape, garbage): Postgres answers, and the store below replaces
          // it, generation-checked like any other, so it is not read again at every request until its TTL.
          lookupFailed();
        }
      } else {
        cacheRequests.inc({ keyspace: slot.keyspace, result: 'miss' });
      }
      observed = found.generation;
    }
    const value = await load();
    if (value !== null && observed !== undefined) {
      try {
        const encoded = codec.encode(value);
        const stored = await this.client.cacheStore(genKey, valueKey, observed, encoded, this.ttlSeconds, this.genTtl, slot.stamped ? '1' : '0');
        if (!stored) cacheStoresSkipped.inc({ keyspace: slot.keyspace });
      } catch {
        cacheErrors.inc({ op: 'store' });
      }
    }
    return value;
  }

  /** After a commit: delete the detail keys and bump every generation the change touched, in one round trip. */
  async evict(effects: EvictionTargets): Promise<void> {
    if (!effects.bookingIds.size && !effects.userIds.size && !effects.workspaceIds.size && !effects.spaceIds.size) return;
    const details = [...effects.bookingIds].map(slots.bookingDetail);
    const generations = [
      gen.all(),
      ...details.map((d) => d.genKey),
      ...[...effects.userIds].map(gen.user),
      ...[...effects.workspaceIds].map(gen.workspace),
      ...[...effects.spaceIds].map(gen.space),
    ];
    const deletes = details.map((d) => d.valueKey);
    const keys = [...deletes, ...generations].map((k) => this.prefix + k);
    try {
      await this.client.cacheEvict(keys.length, ...keys, this.genTtl, deletes.length);
    } catch (err) {
      cacheErrors.inc({ op: 'evict' });
      throw err;
    }
    cacheEvictions.inc({ kind: 'booking' }, deletes.length);
    cacheEvictions.inc({ kind: 'generation' }, generations.length);
  }
}

/** The value of a stamped entry if its stamp is `generation`; null (a miss) if it was stored under another. */
function unstamp(raw: Buffer, generation: string): Buffer | null {
  const nl = raw.indexOf(NEWLINE);
  return nl === generation.length && raw.toString('latin1', 0, nl) === generation ? raw.subarray(nl + 1) : null;
}

/** The cache as configured: its key prefix, TTL and on/off switch, on the given connection (CACHE_REDIS_URL). */
export const createReadCache = (redis: Redis, config: Pick<AppConfig, 'queue' | 'cache'>) =>
  new ReadCache(redis, cachePrefix(config.queue.prefix), config.cache.ttlSeconds, config.cache.enabled);
