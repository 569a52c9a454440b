import { createRoute, z } from '@hono/zod-openapi';
import { NotificationSchema, type Notification } from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import { BOOKING_EVENT_TYPES } from '../../jobs/catalogue.js';
import type { AppDeps, AppEnv } from '../context.js';
import * as S from '../schemas.js';
import { body, json } from '../openapi-helpers.js';
import { findAndCount } from '../../db/orm.js';
import { apiRouter } from '../router.js';

const tags = ['notifications'];

export const NotificationDto = z
  .object({
    id: S.Uuid,
    type: z.enum(BOOKING_EVENT_TYPES),
    title: z.string(),
    body: z.string(),
    data: z.record(z.string(), z.unknown()).openapi({ description: 'The booking event (bookingId, workspace, space, times, reason…)' }),
    readAt: S.IsoDateTime.nullable(),
    createdAt: S.IsoDateTime,
  })
  .openapi('Notification');

const NotificationListQuery = S.Pagination.extend({
  unread: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .openapi({ description: '`true`: only notifications not read yet' }),
});

const listNotifications = createRoute({
  method: 'get', path: '/notifications', tags, summary: 'My notifications, newest first',
  request: { query: NotificationListQuery },
  responses: { 200: json(S.page(NotificationDto), 'A page of my notifications'), ...S.errors },
});
const markRead = createRoute({
  method: 'post', path: '/notifications/{id}/read', tags, summary: 'Mark one of my notifications read (idempotent)',
  request: { params: S.IdParam },
  responses: { 200: json(NotificationDto, 'The notification, with readAt'), ...S.errors },
});

/** A change to all of my notifications at once: marking them read (the only one there is). */
const MarkAllInput = z
  .strictObject({
    read: z.literal(true),
    before: S.CommandInstant.optional().openapi({
      description: 'only those created up to this instant (when the list was read: one that arrived since stays unread)',
    }),
  })
  .openapi('MarkNotificationsRead');
const markAllRead = createRoute({
  method: 'patch', path: '/notifications', tags, summary: 'Mark all my unread notifications read (idempotent)',
  request: { ...body(MarkAllInput) },
  responses: { 200: json(z.object({ marked: z.number().int() }).openapi('NotificationsMarked'), 'How many were unread and are now read'), ...S.errors },
});

const notificationDto = (n: Notification): z.infer<typeof NotificationDto> => ({
  id: n.id,
  type: n.type as z.infer<typeof NotificationDto>['type'],
  title: n.title,
  body: n.body,
  data: n.data,
  readAt: n.readAt ? n.readAt.toISOString() : null,
  createdAt: n.createdAt.toISOString(),
});

/** In-app notifications. Everyone sees only their own, whatever their role; another user's id is a 404. */
export function notificationRoutes(deps: AppDeps) {
  const app = apiRouter();

  app.openapi(listNotifications, async (c) => {
    const { page, pageSize, unread } = c.req.valid('query');
    const userId = c.get('user').id;
    const [items, total] = await findAndCount(deps.orm.em.fork(), NotificationSchema, { userId, ...(unread ? { readAt: null } : {}) }, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return c.json({ items: items.map(notificationDto), page, pageSize, total }, 200);
  });

  app.openapi(markRead, async (c) => {
    const { id } = c.req.valid('param');
    const userId = c.get('user').id;
    const em = deps.orm.em.fork();
    // Only the first read sets readAt; a second call answers the same.
    await em.nativeUpdate(NotificationSchema, { id, userId, readAt: null }, { readAt: new Date() });
    const n = await em.findOne(NotificationSchema, { id, userId });
    if (!n) throw new DomainError('not_found', `Notification ${id} not found`);
    return c.json(notificationDto(n), 200);
  });

  app.openapi(markAllRead, async (c) => {
    const { before } = c.req.valid('json');
    const userId = c.get('user').id;
    const marked = await deps.orm.em
      .fork()
      .nativeUpdate(NotificationSchema, { userId, readAt: null, ...(before ? { createdAt: { $lte: new Date(before) } } : {}) }, { readAt: new Date() });
    return c.json({ marked }, 200);
  });

  return app;
}
