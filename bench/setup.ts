/**
 * The bench's own world: a database (created and migrated here, dropped at the end), a Redis key prefix (every
 * key under it deleted at the end), seeded workspaces, spaces and users, tokens, and distinct booking slots.
 */
import { sign } from 'hono/jwt';
import { Redis } from 'ioredis';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { createOrm, ensureDatabase, migrate } from '../src/db/orm.js';
import { keyedIdentity } from '../src/api/submit-command.js';
import { log } from './lib.js';

export const BENCH_JWT_SECRET = 'bench-secret-0123456789abcdef0123456789';
const PG_BASE = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function withDb(name: string): string {
  const url = new URL(PG_BASE);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface BenchEnv {
  id: string;
  dbName: string;
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  /** The bench's own pool on its database (B2, checks). */
  pool: pg.Pool;
  redis: Redis;
  cleanup: () => Promise<void>;
}

export async function createBenchEnv(): Promise<BenchEnv> {
  const id = randomBytes(4).toString('hex');
  const dbName = `cw_bench_${id}`;
  const dbUrl = withDb(dbName);
  const prefix = `bench${id}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  let pool: pg.Pool | undefined;
  let cleaned = false;

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await pool?.end().catch(() => undefined);
    try {
      let cursor = '0';
      let deleted = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
      log(`deleted ${deleted} Redis keys under ${prefix}:`);
    } catch (e) {
      log(`could not delete Redis keys under ${prefix}: ${String(e)}`);
    }
    redis.disconnect();
    const admin = new pg.Client({ connectionString: PG_BASE });
    try {
      await admin.connect();
      await admin.query(`drop database if exists "${dbName}" with (force)`);
      log(`dropped database ${dbName}`);
    } catch (e) {
      log(`could not drop database ${dbName}: ${String(e)}`);
    } finally {
      await admin.end().catch(() => undefined);
    }
  };

  try {
    await ensureDatabase(dbUrl);
    const orm = await createOrm(dbUrl, { poolMax: 2 });
    try {
      await migrate(orm);
    } finally {
      await orm.close();
    }
    pool = new pg.Pool({ connectionString: dbUrl, max: 12 });
    // B2's rows: one row updated per job, 1000 rows so concurrent jobs rarely wait on one another's row lock.
    await pool.query('create table bench_rows (id int primary key, n bigint not null default 0, touched_at timestamptz)');
    await pool.query('insert into bench_rows (id) select generate_series(0, 999)');
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { id, dbName, dbUrl, redisUrl: REDIS_URL, prefix, pool, redis, cleanup };
}

/** Versions for the header above the table. */
export async function serverVersions(env: BenchEnv): Promise<{ postgres: string; redis: string }> {
  const pgv = await env.pool.query<{ server_version: string }>('show server_version');
  const info = await env.redis.info('server');
  return { postgres: pgv.rows[0]?.server_version ?? '?', redis: info.match(/redis_version:(\S+)/)?.[1] ?? '?' };
}

// ---- users, tokens, catalog ----

export interface BenchUser {
  id: string;
  email: string;
  name: string;
  role: 'member' | 'staff' | 'admin';
  token: string;
}

export async function makeUser(role: BenchUser['role'], i: number): Promise<BenchUser> {
  const id = randomUUID();
  const name = `${role} ${i}`;
  const email = `${role}${i}@bench.example`;
  const exp = Math.floor(Date.now() / 1000) + 6 * 3600;
  const token = await sign({ sub: id, email, name, role, exp }, BENCH_JWT_SECRET, 'HS256');
  return { id, email, name, role, token };
}

export interface BenchSpace {
  id: string;
  workspaceId: string;
  capacity: number;
}

const ZONES = ['Europe/Berlin', 'America/New_York', 'UTC', 'Asia/Kolkata'];
const KINDS = ['desk', 'office', 'meeting_room'] as const;

async function post(base: string, path: string, token: string, body: unknown): Promise<{ id: string }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`POST ${path} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Workspaces and spaces through the admin API (as an operator would), members upserted by one request each. */
export async function seed(apiBase: string, opts: { workspaces: number; spacesPerWorkspace: number; members: number }) {
  const admin = await makeUser('admin', 0);
  const spaces: BenchSpace[] = [];
  for (let w = 0; w < opts.workspaces; w++) {
    const ws = await post(apiBase, '/api/v1/workspaces', admin.token, {
      name: `Bench hub ${w}`,
      timezone: ZONES[w % ZONES.length],
      currency: 'EUR',
      taxRateBps: 1900,
    });
    const created = await Promise.all(
      Array.from({ length: opts.spacesPerWorkspace }, async (_, s) => {
        const kind = KINDS[s % KINDS.length]!;
        const capacity = kind === 'desk' ? 1 : kind === 'office' ? 4 + (s % 5) : 6 + (s % 10);
        const space = await post(apiBase, `/api/v1/workspaces/${ws.id}/spaces`, admin.token, {
          name: `${kind} ${s}`,
          kind,
          capacity,
          hourlyRate: 800 + 100 * (s % 12),
          dailyRate: 5000 + 500 * (s % 8),
          monthlyRate: 90_000 + 5_000 * (s % 6),
        });
        return { id: space.id, workspaceId: ws.id, capacity };
      }),
    );
    spaces.push(...created);
  }
  const members = await Promise.all(Array.from({ length: opts.members }, (_, i) => makeUser('member', i)));
  // The API upserts a user from the token's claims on their first request.
  for (let i = 0; i < members.length; i += 20) {
    await Promise.all(
      members.slice(i, i + 20).map(async (m) => {
        const res = await fetch(`${apiBase}/api/v1/booking/bookings`, { headers: { authorization: `Bearer ${m.token}` } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`seeding member → ${res.status}`);
      }),
    );
  }
  return { admin, spaces, members };
}

// ---- slots and payloads ----

const HOUR = 3_600_000;
const NOTES = [
  null,
  'Quarterly planning with the design team',
  'Client call, needs the screen',
  'Interviews: 3 candidates, back to back',
  null,
  'Focus time',
  'Workshop — bring the whiteboard markers, please',
];

export interface Slot {
  space: BenchSpace;
  startsAt: string;
  endsAt: string;
}

/**
 * Hands out slots that never overlap: slot k is space k mod S, in the (k div S)-th two-hour block after
 * `startMs`, lasting one or two hours. Whole UTC hours are on the 15-minute grid of every seeded time zone.
 */
export class Slots {
  private k = 0;
  constructor(
    private readonly spaces: BenchSpace[],
    private readonly startMs: number,
  ) {}

  next(): Slot {
    const k = this.k++;
    const space = this.spaces[k % this.spaces.length]!;
    const start = this.startMs + Math.floor(k / this.spaces.length) * 2 * HOUR;
    const hours = k % 3 === 0 ? 2 : 1;
    return { space, startsAt: new Date(start).toISOString(), endsAt: new Date(start + hours * HOUR).toISOString() };
  }
}

/** The next UTC midnight at least `days` days ahead. */
export function daysAhead(days: number): number {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime() + (days + 1) * 24 * HOUR;
}

/** The body of POST /booking/bookings for a slot. */
export function createBody(slot: Slot, i: number) {
  const notes = NOTES[i % NOTES.length];
  return {
    spaceId: slot.space.id,
    bookingType: 'hourly' as const,
    startsAt: slot.startsAt,
    endsAt: slot.endsAt,
    attendees: 1 + (i % slot.space.capacity),
    ...(notes ? { notes } : {}),
  };
}

/** What the API enqueues for that body (src/api/routes/bookings.routes.ts + submit-command.ts), with an Idempotency-Key. */
export function createCommand(slot: Slot, i: number, user: BenchUser) {
  const body = createBody(slot, i);
  return {
    jobId: keyedIdentity(user.id, `bench-${randomUUID()}`).jobId,
    data: {
      ...body,
      notes: body.notes ?? null,
      bookingId: randomUUID(),
      actor: { id: user.id, role: user.role },
      requestedAt: new Date().toISOString(),
      fingerprint: createHash('sha256').update(JSON.stringify(body)).digest('hex'),
    },
  };
}
