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
