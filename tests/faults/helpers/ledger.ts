import pg from 'pg';
import type { Stack, TestResponse } from '../../helpers/stack.js';
import { PG_BASE, withDb } from '../../helpers/db.js';

/**
 * The ledger of a fault scenario: every command the API accepted (202), and the check that compares it with what
 * the database holds once the queues drained. "Lost" and "duplicated" are counted, not just asserted, so the summary
 * table shows what was measured.
 */
export interface Accepted {
  jobId: string;
  name: string;
  /** The outcome the scenario expects, when it knows it. */
  expect?: 'completed' | 'failed';
}

export interface InboxRow {
  id: string;
  name: string;
  outcome: 'completed' | 'failed';
  result: Record<string, unknown> | null;
  error: { code: string; message: string; details?: unknown } | null;
}

/** The test's database, always straight to Postgres (not through a proxy a test may have cut). */
export function directDbUrl(stack: Stack): string {
  const url = new URL(stack.config.db.url);
  const base = new URL(PG_BASE);
  url.hostname = base.hostname;
  url.port = base.port || '5432';
  return url.toString();
}

/** The job id of a command answer (202, or 200 with Prefer: wait). */
export function jobIdOf(res: TestResponse): string | undefined {
  if (res.status === 202) return res.body?.jobId;
  if (res.status === 200 && typeof res.body?.id === 'string' && typeof res.body?.state === 'string') return res.body.id;
  return undefined;
}

export async function inboxRows(client: pg.Client, ids: string[]): Promise<Map<string, InboxRow>> {
  const { rows } = await client.query<InboxRow>('select id, name, outcome, result, error from processed_commands where id = any($1::text[])', [ids]);
  return new Map(rows.map((r) => [r.id, r]));
}

/** How many of `ids` the workers have finished (inbox row written). */
export async function countFinished(client: pg.Client, ids: string[]): Promise<number> {
  const { rows } = await client.query<{ n: number }>('select count(*)::int as n from processed_commands where id = any($1::text[])', [ids]);
  return rows[0]!.n;
}

/** Audit rows and events one completed command must have written, by command name. */
function expectedEffects(row: InboxRow): { audit: number; events: number } {
  if (row.outcome !== 'completed') return { audit: 0, events: 0 };
  switch (row.name) {
    case 'booking.create':
    case 'booking.confirm':
    case 'booking.cancel':
    case 'booking.check-in':
    case 'booking.check-out':
    case 'booking.complete':
      return { audit: 1, events: 1 };
    case 'booking.update':
    case 'booking.delete':
      return { audit: 1, events: 0 };
    case 'cart.checkout': {
      const n = ((row.result?.bookingIds as string[] | undefined) ?? []).length;
      return { audit: n, events: 2 * n };
    }
    default:
      return { audit: 0, events: 0 };
  }
}

export interface Verdict {
  commands: number;
  completed: number;
  refused: number;
  /** Refusals by code. */
  refusals: Record<string, number>;
  lost: number;
  duplicated: number;
  events: number;
  bookings: number;
  /** Human-readable findings; empty when the database matches the ledger. */
  problems: string[];
}

/**
 * Compares the database with the accepted commands:
 * - every accepted command has exactly one inbox row (none missing, none an `internal_error` after exhausted
 *   retries) and, when the scenario said so, the expected outcome; `exclusive`: no inbox row beyond them;
 * - a completed command wrote exactly its audit rows and outbox events (one per transition; a checkout one audit row
 *   and two events per booking), a refused one none;
 * - the bookings are exactly those the completed creates and checkouts name; each live one has exactly one claim,
 *   a cancelled or deleted one none; its audit rows form one chain ending in its status; no two claims overlap;
 * - with `notifications`: every outbox row is published and has exactly one in-app notification.
 */
export async function verifyLedger(
  url: string,
  accepted: Accepted[],
  opts: { exclusive?: boolean; notifications?: boolean } = {},
): Promise<Verdict> {
  return withDb(url, async (db) => {
    const problems: string[] = [];
    let lost = 0;
    let duplicated = 0;
    const note = (msg: string) => problems.length < 50 && problems.push(msg);

    const ids = accepted.map((a) => a.jobId);
    if (new Set(ids).size !== ids.length) note('the ledger holds a job id twice');
    const inbox = await inboxRows(db, ids);
    const refusals: Record<string, number> = {};
    let completed = 0;
    for (const a of accepted) {
      const row = inbox.get(a.jobId);
      if (!row) {
        lost++;
        note(`${a.name} ${a.jobId}: no inbox row (never applied)`);
        continue;
      }
      if (row.outcome === 'completed') completed++;
      else {
        const code = row.error?.code ?? '?';
        refusals[code] = (refusals[code] ?? 0) + 1;
        if (code === 'internal_error') {
          lost++;
          note(`${a.name} ${a.jobId}: failed for good on faults (internal_error)`);
        }
      }
      if (a.expect && row.outcome !== a.expect) note(`${a.name} ${a.jobId}: expected ${a.expect}, got ${row.outcome} ${JSON.stringify(row.error)}`);
    }
    if (opts.exclusive) {
      const { rows } = await db.query<{ id: string; name: string }>('select id, name from processed_commands where not (id = any($1::text[]))', [ids]);
      for (const r of rows) note(`inbox row ${r.id} (${r.name}) for a command nobody was told was accepted`);
      duplicated += rows.length;
    }

    // Audit rows and outbox events per command.
    const audit = new Map(
      (await db.query<{ command_id: string; n: number }>('select command_id, count(*)::int as n from booking_events where command_id is not null group by command_id')).rows.map(
        (r) => [r.command_id, r.n],
      ),
    );
    const events = new Map(
      (await db.query<{ command_id: string; n: number }>('select command_id, count(*)::int as n from outbox where command_id is not null group by command_id')).rows.map(
        (r) => [r.command_id, r.n],
      ),
    );
    const expectedBookings = new Set<string>();
    for (const a of accepted) {
      const row = inbox.get(a.jobId);
      if (!row) continue;
      const want = expectedEffects(row);
      const gotAudit = audit.get(a.jobId) ?? 0;
      const gotEvents = events.get(a.jobId) ?? 0;
      if (gotAudit > want.audit || gotEvents > want.events) {
        duplicated++;
        note(`${row.name} ${a.jobId}: ${gotAudit} audit rows / ${gotEvents} events, expected ${want.audit} / ${want.events}`);
      } else if (gotAudit < want.audit || gotEvents < want.events) {
        lost++;
        note(`${row.name} ${a.jobId}: half-written, ${gotAudit} audit rows / ${gotEvents} events, expected ${want.audit} / ${want.events}`);
      }
      if (row.outcome === 'completed' && row.name === 'booking.create') expectedBookings.add(row.result!.bookingId as string);
      if (row.outcome === 'completed' && row.name === 'cart.checkout') for (const b of row.result!.bookingIds as string[]) expectedBookings.add(b);
    }

    // Bookings, their claims and their audit chains.
    const bookings = (
      await db.query<{ id: string; status: string; deleted: boolean; version: number; claims: number; chain: { from: string | null; to: string }[] | null }>(
        `select b.id, b.status, b.deleted_at is not null as deleted, b.version,
                (select count(*)::int from reservations r where r.booking_id = b.id) as claims,
                (select json_agg(json_build_object('from', e.from_status, 'to', e.to_status) order by e.at, e.id)
                   from booking_events e where e.booking_id = b.id) as chain
           from bookings b`,
      )
    ).rows;
    const actual = new Set(bookings.map((b) => b.id));
    for (const id of expectedBookings) if (!actual.has(id)) (lost++, note(`booking ${id}: a completed command created it, it is missing`));
    if (opts.exclusive) for (const b of bookings) if (!expectedBookings.has(b.id)) (duplicated++, note(`booking ${b.id}: no accepted command created it`));
    for (const b of bookings) {
      const live = !b.deleted && b.status !== 'cancelled';
      if (b.claims !== (live ? 1 : 0)) note(`booking ${b.id} (${b.status}${b.deleted ? ', deleted' : ''}): ${b.claims} claims`);
      const chain = b.chain ?? [];
      if (!chain.length) note(`booking ${b.id}: no audit row`);
      else {
        if (chain[0]!.from !== null) note(`booking ${b.id}: the first audit row starts from ${chain[0]!.from}`);
        for (let i = 1; i < chain.length; i++)
          if (chain[i]!.from !== chain[i - 1]!.to) note(`booking ${b.id}: audit chain broken at ${i} (${JSON.stringify(chain)})`);
        if (chain.at(-1)!.to !== b.status) note(`booking ${b.id}: status ${b.status}, last audit row says ${chain.at(-1)!.to}`);
      }
    }
    const overlaps = (
      await db.query<{ n: number }>(
        `select count(*)::int as n from reservations a join reservations b
           on a.space_id = b.space_id and a.id < b.id and tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(b.starts_at, b.ends_at, '[)')`,
      )
    ).rows[0]!.n;
    if (overlaps) (duplicated += overlaps, note(`${overlaps} pairs of overlapping claims`));

    // Events: published, one in-app notification each.
    const outbox = (
      await db.query<{ id: string; published: boolean; notifications: number }>(
        `select o.id, o.published_at is not null as published, (select count(*)::int from notifications n where n.outbox_id = o.id) as notifications from outbox o`,
      )
    ).rows;
    if (opts.notifications) {
      for (const o of outbox) {
        if (!o.published) note(`outbox ${o.id}: never published`);
        if (o.notifications === 0) (lost++, note(`outbox ${o.id}: no notification`));
        if (o.notifications > 1) (duplicated++, note(`outbox ${o.id}: ${o.notifications} notifications`));
      }
    }

    return {
      commands: accepted.length,
      completed,
      refused: accepted.length - completed - accepted.filter((a) => !inbox.has(a.jobId)).length,
      refusals,
      lost,
      duplicated,
      events: outbox.length,
      bookings: bookings.length,
      problems,
    };
  });
}

/** Runs `f` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await f(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Jobs of a queue not yet finished (waiting, active, delayed, prioritized, waiting-children, paused). */
export async function unfinishedJobs(queue: { getJobCounts: (...types: string[]) => Promise<Record<string, number>> }): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused');
  return Object.values(counts).reduce((s, n) => s + n, 0);
}
