import { SpaceSchema, WorkspaceSchema, type Space, type Workspace } from '../db/entities/index.js';
import type { Orm } from '../db/orm.js';
import { DomainError } from '../domain/errors.js';

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

/**
 * What the booking routes check before enqueueing (active, capacity, the time rules in the workspace's zone), in
 * one plain query instead of two ORM lookups (space, then workspace): those were most of a create request's CPU.
 * The join is inner: the foreign key guarantees the workspace. Unknown id → the 404 of findSpace.
 */
export async function findBookableSpace(orm: Orm, id: string): Promise<BookableSpace> {
  const row = (await orm.em
    .getConnection()
    .execute(
      'select s.id, s.workspace_id, s.active, s.capacity, w.timezone from spaces s join workspaces w on w.id = s.workspace_id where s.id = ?',
      [id],
      'get',
    )) as { id: string; workspace_id: string; active: boolean; capacity: number; timezone: string } | undefined;
  if (!row) throw new DomainError('not_found', `Space ${id} not found`);
  return { id: row.id, workspaceId: row.workspace_id, active: row.active, capacity: row.capacity, timezone: row.timezone };
}
