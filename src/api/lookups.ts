import { SpaceSchema, WorkspaceSchema, type Space, type Workspace } from '../db/entities/index.js';
import type { Orm } from '../db/orm.js';
import { preparedRead, type Statement } from '../db/sql.js';
import { DomainError } from '../domain/errors.js';
import { onePer } from '../one-per.js';
import { Batcher } from '../batch.js';

/** Catalog rows the routes need, or the 404 every route answers for an unknown id. */
export async function findWorkspace(orm: Orm, id: string): Promise<Workspace> {
  const w = await orm.em.fork().findOne(WorkspaceSchema, id);
  if (!w) throw new DomainError('not_found', `Workspace ${id} not found`);
  return w;
}

export async function findSpace(orm: Orm, id: string): Promise<Space> {
  const s = await orm.em.fork().findOne(SpaceSchema, id);
  if (!s) throw new DomainError('not_found', `Space ${id} not found`);
  return s;
}

export interface BookableSpace {
  id: string;
  workspaceId: string;
  active: boolean;
  capacity: number;
  /** The workspace's IANA time zone. */
  timezone: string;
}

/** The outcome the inbox stored under a command's job id: only its fingerprint is needed before enqueueing. */
export interface InboxRow {
  /** The id it is stored under (one of the ids looked up). */
  jobId: string;
  fingerprint: string | null;
}

/**
 * One batch of space lookups (bookings routes), each with the inbox row of a job id when asked for (or of its legacy
 * id, when only that has one): one row per lookup whose space exists, numbered by its place in the arrays. The joins
 * are inner where the foreign key guarantees the row (workspace), left for the inbox (an id, or null when not asked
 * for, matches at most one row).
 */
export const BOOKABLE_SPACES: Statement = {
  name: 'api_bookable_spaces',
  text:
    'select q.n::int as n, s.id, s.workspace_id, s.active, s.capacity, w.timezone, coalesce(pc.id, pl.id) as inbox_id, ' +
    'case when pc.id is not null then pc.fingerprint else pl.fingerprint end as inbox_fingerprint ' +
    'from unnest($1::uuid[], $2::text[], $3::text[]) with ordinality as q(space_id, job_id, legacy_job_id, n) ' +
    'join spaces s on s.id = q.space_id join workspaces w on w.id = s.workspace_id ' +
    'left join processed_commands pc on pc.id = q.job_id left join processed_commands pl on pl.id = q.legacy_job_id',
};
type BookableSpaceRow = { n: number; id: string; workspace_id: string; active: boolean; capacity: number; timezone: string; inbox_id: string | null; inbox_fingerprint: string | null };
type SpaceLookup = { spaceId: string; inboxJobIds: readonly string[] };

/** The first of the ids given that holds an inbox row (by its place in the array). */
const INBOX: Statement = {
  name: 'api_inbox_fingerprint',
  text: 'select pc.id, pc.fingerprint from unnest($1::text[]) with ordinality as q(id, n) join processed_commands pc on pc.id = q.id order by q.n limit 1',
};

/**
 * A space id in the canonical form Postgres' uuid type reads (the routes validate ids as UUIDs before): anything
 * else would fail the whole batch's query (and send each of its lookups again alone), so it is "not found" unsent.
 */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The space lookups of the requests served in one event-loop turn, in one query (src/batch.ts). */
const spaceBatcher = onePer(
  (orm: Orm) =>
    new Batcher<SpaceLookup, BookableSpaceRow | undefined>(async (lookups) => {
      const rows = await preparedRead<BookableSpaceRow>(orm, BOOKABLE_SPACES, [
        lookups.map((l) => l.spaceId),
        lookups.map((l) => l.inboxJobIds[0] ?? null),
        lookups.map((l) => l.inboxJobIds[1] ?? null),
      ]);
      const byPlace = new Array<BookableSpaceRow | undefined>(lookups.length);
      for (const row of rows) byPlace[row.n - 1] = row;
      return byPlace;
    }),
);

async function lookUpSpace(orm: Orm, spaceId: string, inboxJobIds: readonly string[]): Promise<BookableSpaceRow | undefined> {
  return CANONICAL_UUID.test(spaceId) ? spaceBatcher(orm).load({ spaceId, inboxJobIds }) : undefined;
}

const bookable = (row: BookableSpaceRow | undefined, id: string): BookableSpace => {
  if (!row) throw new DomainError('not_found', `Space ${id} not found`);
  return { id: row.id, workspaceId: row.workspace_id, active: row.active, capacity: row.capacity, timezone: row.timezone };
};

/**
 * What the booking routes check before enqueueing (active, capacity, the time rules in the workspace's zone), in
 * one plain query instead of two ORM lookups (space, then workspace), shared with the other requests of the same
 * event-loop turn. Unknown id → the 404 of findSpace.
 */
export async function findBookableSpace(orm: Orm, id: string): Promise<BookableSpace> {
  return bookable(await lookUpSpace(orm, id, []), id);
}

/**
 * findBookableSpace and, in the same round trip, the inbox row stored under the first of `inboxJobIds` that has one
 * (at most two: a key's job id and its legacy id), when given: a keyed create needs both. The inbox half is
 * `undefined` when not asked for, `null` when there is no row. An unknown space is the 404 of findBookableSpace,
 * whatever the inbox holds.
 */
export async function findBookableSpaceAndInbox(
  orm: Orm,
  id: string,
  inboxJobIds: readonly string[] | undefined,
): Promise<{ space: BookableSpace; inbox: InboxRow | null | undefined }> {
  const row = await lookUpSpace(orm, id, inboxJobIds ?? []);
  const space = bookable(row, id);
  if (inboxJobIds === undefined) return { space, inbox: undefined };
  return { space, inbox: row!.inbox_id != null ? { jobId: row!.inbox_id, fingerprint: row!.inbox_fingerprint ?? null } : null };
}

/** The inbox row stored under the first of these job ids that has one, or null. */
export async function findInboxRow(orm: Orm, jobIds: readonly string[]): Promise<InboxRow | null> {
  const rows = await preparedRead<{ id: string; fingerprint: string | null }>(orm, INBOX, [jobIds]);
  return rows[0] ? { jobId: rows[0].id, fingerprint: rows[0].fingerprint ?? null } : null;
}
