import { createRoute } from '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import { ReservationSchema, SpaceSchema, WorkspaceSchema, type Reservation, type Space, type Workspace } from '../../db/entities/index.js';
import { canonicalTimeZone } from '../../domain/time-rules.js';
import { API_PREFIX } from '../paths.js';
import type { AppDeps, AppEnv } from '../context.js';
import { DomainError } from '../../domain/errors.js';
import { requires } from '../guards.js';
import * as S from '../schemas.js';
import { spaceDto, workspaceDto } from '../serializers.js';
import { slots } from '../../cache/keys.js';
import { findSpace as lookupSpace, findWorkspace as lookupWorkspace } from '../lookups.js';
import { json, body } from '../openapi-helpers.js';
import { findAndCount } from '../../db/orm.js';
import type { EntityManager, FilterQuery, ObjectQuery } from '@mikro-orm/postgresql';
import { apiRouter } from '../router.js';

const tags = ['catalog'];

const createWorkspace = createRoute({
  middleware: [requires('admin')],
  method: 'post', path: '/workspaces', tags, summary: 'Create a workspace (admin)',
  request: body(S.WorkspaceInput),
  responses: { 201: S.created(S.Workspace), ...S.errors },
});
const updateWorkspace = createRoute({
  middleware: [requires('admin')],
  method: 'patch', path: '/workspaces/{id}', tags, summary: "Change a workspace's name or tax rate (admin)",
  description: 'Its time zone and currency stay as created: its bookings are timed and priced in them. A new tax rate applies to bookings made from then on.',
  request: { params: S.IdParam, ...body(S.WorkspaceUpdate) },
  responses: { 200: json(S.Workspace, 'Workspace, changed'), ...S.errors },
});
const listWorkspaces = createRoute({
  method: 'get', path: '/workspaces', tags, summary: 'List workspaces',
  request: { query: S.Pagination },
  responses: { 200: json(S.page(S.Workspace), 'Workspaces'), ...S.errors },
});
const getWorkspace = createRoute({
  method: 'get', path: '/workspaces/{id}', tags, summary: 'A workspace',
  request: { params: S.IdParam },
  responses: { 200: json(S.Workspace, 'Workspace'), ...S.errors },
});
const createSpace = createRoute({
  middleware: [requires('admin')],
  method: 'post', path: '/workspaces/{id}/spaces', tags, summary: 'Add a space to a workspace (admin)',
  request: { params: S.IdParam, ...body(S.SpaceInput) },
  responses: { 201: S.created(S.Space), ...S.errors },
});
const updateSpace = createRoute({
  middleware: [requires('admin')],
  method: 'patch', path: '/spaces/{id}', tags, summary: 'Change a space, or deactivate it (admin)',
  description:
    'New rates and capacity apply to bookings made from then on (a booking keeps its price). `active: false` refuses new bookings and cart items (`space_inactive`) and keeps those it has; `active: true` opens it again. Its kind stays as created.',
  request: { params: S.IdParam, ...body(S.SpaceUpdate) },
  responses: { 200: json(S.Space, 'Space, changed'), ...S.errors },
});
const listSpaces = createRoute({
  method: 'get', path: '/workspaces/{id}/spaces', tags, summary: "A workspace's spaces, by name",
  description:
    'Narrowed by `kind`, `minCapacity` and `active`; with `availableFrom` and `availableTo`, only the spaces that can be booked for that whole window (active, no booking and no live cart hold overlapping it), as `availability` would show them.',
  request: { params: S.IdParam, query: S.SpaceListQuery },
  responses: { 200: json(S.page(S.Space), 'Spaces'), ...S.errors },
});
const getSpace = createRoute({
  method: 'get', path: '/spaces/{id}', tags, summary: 'A space',
  request: { params: S.IdParam },
  responses: { 200: json(S.Space, 'Space'), ...S.errors },
});
const availability = createRoute({
  method: 'get', path: '/spaces/{id}/availability', tags, summary: 'Busy intervals of a space in [from, to)',
  request: { params: S.IdParam, query: S.AvailabilityQuery },
  responses: { 200: json(S.Availability, 'Busy intervals (bookings and unexpired cart holds)'), ...S.errors },
});

/**
 * The live claims overlapping [from, to): a booking's, or a cart hold not yet expired at `now` (an expired one never
 * blocks). What `availability` shows busy, and what the space search's window leaves out.
 */
const liveClaimsOverlapping = (from: Date, to: Date, now: Date): ObjectQuery<Reservation> => ({
  startsAt: { $lt: to },
  endsAt: { $gt: from },
  $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }],
});

/** The spaces of a workspace that a live claim overlaps in [from, to). One statement; at most the workspace's spaces. */
async function spacesClaimedDuring(em: EntityManager, workspaceId: string, from: Date, to: Date): Promise<string[]> {
  const spacesOfWorkspace = em.createQueryBuilder(SpaceSchema).select('id').where({ workspaceId }).getKnexQuery();
  const claims = await em.find(
    ReservationSchema,
    { ...liveClaimsOverlapping(from, to, new Date()), spaceId: { $in: spacesOfWorkspace as never } },
    { fields: ['spaceId'] },
  );
  return [...new Set(claims.map((r) => r.spaceId))];
}

export function catalogRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();

  const findWorkspace = (id: string) => lookupWorkspace(deps.orm, id);
  const findSpace = (id: string) => lookupSpace(deps.orm, id);

  app.openapi(createWorkspace, async (c) => {
    const input = c.req.valid('json');
    const fork = em();
    const w = fork.create(WorkspaceSchema, { id: randomUUID(), ...input, timezone: canonicalTimeZone(input.timezone) });
    await fork.flush();
    c.header('Location', `${API_PREFIX}/workspaces/${w.id}`);
    return c.json(workspaceDto(w), 201);
  });

  app.openapi(listWorkspaces, async (c) => {
    const { page, pageSize } = c.req.valid('query');
    const [items, total] = await findAndCount(em(), WorkspaceSchema, {}, { orderBy: { name: 'asc', id: 'asc' }, limit: pageSize, offset: (page - 1) * pageSize });
    return c.json({ items: items.map(workspaceDto), page, pageSize, total }, 200);
  });

  app.openapi(getWorkspace, async (c) => c.json(workspaceDto(await findWorkspace(c.req.valid('param').id)), 200));

  // Catalog writes are synchronous (DESIGN.md): no booking state changes, so no command; nothing cached holds these
  // rows (the API and the workers read a space and its workspace fresh for each request and command).
  /** The row by id (404 if none) with the validated changes applied and committed. */
  async function changed<S extends typeof WorkspaceSchema | typeof SpaceSchema>(
    schema: S,
    label: string,
    id: string,
    changes: object,
  ): Promise<S extends typeof SpaceSchema ? Space : Workspace> {
    const fork = em();
    // One generic body for both schemas: typed as one of them inside, as the caller's outside.
    const row = await fork.findOne(schema as typeof WorkspaceSchema, id);
    if (!row) throw new DomainError('not_found', `${label} ${id} not found`);
    fork.assign(row, changes);
    await fork.flush();
    return row as never;
  }

  app.openapi(updateWorkspace, async (c) =>
    c.json(workspaceDto(await changed(WorkspaceSchema, 'Workspace', c.req.valid('param').id, c.req.valid('json'))), 200),
  );

  app.openapi(createSpace, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const input = c.req.valid('json');
    const fork = em();
    const s = fork.create(SpaceSchema, { id: randomUUID(), workspaceId: workspace.id, ...input, active: input.active ?? true });
    await fork.flush();
    c.header('Location', `${API_PREFIX}/spaces/${s.id}`);
    return c.json(spaceDto(s), 201);
  });

  app.openapi(listSpaces, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const { page, pageSize, kind, minCapacity, active, availableFrom, availableTo } = c.req.valid('query');
    const fork = em();
    const where: FilterQuery<Space>[] = [{ workspaceId: workspace.id }];
    if (kind) where.push({ kind });
    if (minCapacity) where.push({ capacity: { $gte: minCapacity } });
    if (active !== undefined) where.push({ active });
    // Free for the window: bookable, and no live claim overlapping it (with active=false too, so nothing).
    if (availableFrom && availableTo)
      where.push({ active: true, id: { $nin: await spacesClaimedDuring(fork, workspace.id, new Date(availableFrom), new Date(availableTo)) } });
    const [items, total] = await findAndCount(fork, SpaceSchema, { $and: where }, { orderBy: { name: 'asc', id: 'asc' }, limit: pageSize, offset: (page - 1) * pageSize });
    return c.json({ items: items.map(spaceDto), page, pageSize, total }, 200);
  });

  app.openapi(getSpace, async (c) => c.json(spaceDto(await findSpace(c.req.valid('param').id)), 200));

  app.openapi(updateSpace, async (c) => c.json(spaceDto(await changed(SpaceSchema, 'Space', c.req.valid('param').id, c.req.valid('json'))), 200));

  app.openapi(availability, async (c) => {
    const space = await findSpace(c.req.valid('param').id);
    const { from, to } = c.req.valid('query');
    const window = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    // Cached per space generation (bumped by every commit that changes the space's claims).
    const busy = await deps.cache.through(slots.availability(space.id, window.from, window.to), async () => {
      const claims = await em().find(
        ReservationSchema,
        { spaceId: space.id, ...liveClaimsOverlapping(new Date(from), new Date(to), new Date()) },
        { orderBy: { startsAt: 'asc' }, limit: 5000 },
      );
      return claims.map((r) => ({ startsAt: r.startsAt.toISOString(), endsAt: r.endsAt.toISOString(), kind: r.kind, expiresAt: r.expiresAt?.getTime() ?? null }));
    });
    // A hold lapsing is no commit, so nothing evicts the entry then: a cached hold is left out once it has expired
    // (an expired hold never blocks), rather than shown busy until the sweep deletes it.
    const now = Date.now();
    const live = (busy ?? []).filter((b) => b.expiresAt == null || b.expiresAt > now).map(({ startsAt, endsAt, kind }) => ({ startsAt, endsAt, kind }));
    return c.json({ spaceId: space.id, ...window, busy: live }, 200);
  });

  return app;
}
