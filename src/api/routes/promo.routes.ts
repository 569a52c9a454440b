import { createRoute } from '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import { PromoCodeSchema, type PromoCode } from '../../db/entities/index.js';
import { pgCode, SQLSTATE } from '../../db/pg-errors.js';
import { DomainError } from '../../domain/errors.js';
import { normalizePromoCode } from '../../domain/promo.js';
import * as C from '../cart.schemas.js';
import type { AppDeps, AppEnv } from '../context.js';
import { requires } from '../guards.js';
import * as S from '../schemas.js';
import { findWorkspace as lookupWorkspace } from '../lookups.js';
import { json } from '../openapi-helpers.js';
import { findAndCount } from '../../db/orm.js';
import { apiRouter } from '../router.js';

const tags = ['catalog'];

const createPromo = createRoute({
  middleware: [requires('admin')],
  method: 'post', path: '/workspaces/{id}/promo-codes', tags, summary: "Create a workspace's promo code (admin)",
  description: 'Codes are matched case-insensitively (stored upper-case) and unique per workspace (409 otherwise).',
  request: { params: S.IdParam, body: { content: { 'application/json': { schema: C.PromoCodeInput } }, required: true } },
  responses: { 201: json(C.PromoCode, 'Created'), ...S.errors },
});
const listPromos = createRoute({
  middleware: [requires('staff')],
  method: 'get', path: '/workspaces/{id}/promo-codes', tags, summary: "A workspace's promo codes with their use counts (staff)",
  request: { params: S.IdParam, query: S.Pagination },
  responses: { 200: json(S.page(C.PromoCode), 'Promo codes'), ...S.errors },
});

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
export const promoDto = (p: PromoCode) => ({
  id: p.id,
  workspaceId: p.workspaceId,
  code: p.code,
  discountType: p.discountType,
  discountValue: p.discountValue,
  validFrom: iso(p.validFrom),
  validTo: iso(p.validTo),
  maxUses: p.maxUses ?? null,
  usedCount: p.usedCount,
  active: p.active,
  createdAt: p.createdAt.toISOString(),
});

/** Promo codes are catalog data: plain synchronous CRUD by admins, not booking commands. */
export function promoRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();

  const findWorkspace = (id: string) => lookupWorkspace(deps.orm, id);

  app.openapi(createPromo, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const input = c.req.valid('json');
    const fork = em();
    const promo = fork.create(PromoCodeSchema, {
      id: randomUUID(),
      workspaceId: workspace.id,
      code: normalizePromoCode(input.code),
      discountType: input.discountType,
      discountValue: input.discountValue,
      validFrom: input.validFrom ? new Date(input.validFrom) : null,
      validTo: input.validTo ? new Date(input.validTo) : null,
      maxUses: input.maxUses ?? null,
      usedCount: 0,
      active: input.active ?? true,
    });
    try {
      await fork.flush();
    } catch (e) {
      if (pgCode(e) === SQLSTATE.uniqueViolation) throw new DomainError('conflict', `Promo code ${promo.code} already exists in this workspace`);
      throw e;
    }
    return c.json(promoDto(promo), 201);
  });

  app.openapi(listPromos, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const { page, pageSize } = c.req.valid('query');
    const [items, total] = await findAndCount(em(), PromoCodeSchema, { workspaceId: workspace.id }, {
      orderBy: { code: 'asc' },
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return c.json({ items: items.map(promoDto), page, pageSize, total }, 200);
  });

  return app;
}
