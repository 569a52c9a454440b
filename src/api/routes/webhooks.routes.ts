import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import {
  WEBHOOK_DELIVERY_STATUSES,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import { BOOKING_EVENT_TYPES, BookingEventPayloadSchema } from '../../jobs/catalogue.js';
import { WEBHOOK_HEADERS } from '../../follow-ups/webhooks.js';
import type { AppDeps, AppEnv } from '../context.js';
import { requires } from '../guards.js';
import * as S from '../schemas.js';
import { findWorkspace as lookupWorkspace } from '../lookups.js';
import { json, body } from '../openapi-helpers.js';
import { findAndCount } from '../../db/orm.js';
import { apiRouter } from '../router.js';

const tags = ['webhooks'];

export const WebhookEndpointInput = z
  .strictObject({
    // Each check aborts the ones after it: one issue per URL, the first that applies.
    url: z
      .string()
      .max(2048, { abort: true })
      // The URL check lets a NUL through (the URL parser would percent-encode it), and Postgres text cannot hold one.
      .regex(/^[^\u0000-\u001f\u007f]*$/, { message: 'must not contain control characters', abort: true })
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL', abort: true })
      // The URL parser reads 'http:///x' as http://x/: a host must follow the '//' as written.
      .regex(/^https?:\/\/[^/\\?#]/i, { message: 'must name a host after the //', abort: true })
      // Credentials in the URL would be stored, shown to every admin and logged; the signature is the shared secret.
      .refine((v) => { const u = new URL(v); return !u.username && !u.password; }, 'must not contain a user name or password')
      .openapi({ format: 'uri', description: 'http(s), with a host, without a user name or password', example: 'https://integrator.example.com/hooks/coworking' }),
    secret: z
      .string()
      .min(16, 'at least 16 characters')
      .max(256)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
      .openapi({ description: 'HMAC-SHA256 key for X-Webhook-Signature. Stored, never returned.' }),
    eventTypes: z
      .array(z.enum(BOOKING_EVENT_TYPES))
      // Piped: zod runs an array's size checks on a string too, so "BOOKING_CREATED" drew "expected array" and
      // "too big" both; the sizes are checked once it is an array.
      .pipe(z.array(z.enum(BOOKING_EVENT_TYPES)).min(1).max(BOOKING_EVENT_TYPES.length))
      .transform((types) => [...new Set(types)])
      .openapi({ minItems: 1, maxItems: BOOKING_EVENT_TYPES.length }),
    active: z.boolean().optional(),
  })
  .openapi('WebhookEndpointInput');

export const WebhookEndpointDto = z
  .object({
    id: S.Uuid,
    workspaceId: S.Uuid,
    url: z.string(),
    eventTypes: z.array(z.enum(BOOKING_EVENT_TYPES)),
    active: z.boolean(),
    createdAt: S.IsoDateTime,
    updatedAt: S.IsoDateTime,
  })
  .openapi('WebhookEndpoint');

export const WebhookDeliveryDto = z
  .object({
    id: S.Uuid,
    endpointId: S.Uuid,
    eventId: S.Uuid.openapi({ description: 'The event (outbox) id, sent as X-Webhook-Id' }),
    eventType: z.enum(BOOKING_EVENT_TYPES),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    statusCode: z.number().int().nullable(),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    deliveredAt: S.IsoDateTime.nullable(),
    createdAt: S.IsoDateTime,
    updatedAt: S.IsoDateTime,
  })
  .openapi('WebhookDelivery');

const DeliveryListQuery = S.Pagination.extend({ status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional() });

const createEndpoint = createRoute({
  middleware: [requires('admin')],
  method: 'post', path: '/workspaces/{id}/webhooks', tags, summary: "Register a webhook endpoint for a workspace's booking events (admin)",
  request: { params: S.IdParam, ...body(WebhookEndpointInput) },
  responses: { 201: json(WebhookEndpointDto, 'Created (the secret is not echoed)'), ...S.errors },
});
const listEndpoints = createRoute({
  middleware: [requires('admin')],
  method: 'get', path: '/workspaces/{id}/webhooks', tags, summary: "A workspace's webhook endpoints (admin)",
  request: { params: S.IdParam, query: S.Pagination },
  responses: { 200: json(S.page(WebhookEndpointDto), 'Endpoints'), ...S.errors },
});
const listDeliveries = createRoute({
  middleware: [requires('admin')],
  method: 'get', path: '/webhooks/{id}/deliveries', tags, summary: "An endpoint's deliveries, newest first (admin)",
  request: { params: S.IdParam, query: DeliveryListQuery },
  responses: { 200: json(S.page(WebhookDeliveryDto), 'Deliveries with attempts, last status code and error'), ...S.errors },
});

type EventType = (typeof BOOKING_EVENT_TYPES)[number];

const endpointDto = (e: WebhookEndpoint): z.infer<typeof WebhookEndpointDto> => ({
  id: e.id,
  workspaceId: e.workspaceId,
  url: e.url,
  eventTypes: e.eventTypes as EventType[],
  active: e.active,
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
});

const deliveryDto = (d: WebhookDelivery): z.infer<typeof WebhookDeliveryDto> => ({
  id: d.id,
  endpointId: d.endpointId,
  eventId: d.outboxId,
  eventType: d.eventType as EventType,
  status: d.status,
  statusCode: d.statusCode ?? null,
  attempts: d.attempts,
  lastError: d.lastError ?? null,
  deliveredAt: d.deliveredAt ? d.deliveredAt.toISOString() : null,
  createdAt: d.createdAt.toISOString(),
  updatedAt: d.updatedAt.toISOString(),
});

/** Webhook endpoints and their deliveries: admin only. Secrets go in, never out. */
/** What a delivery POSTs (src/follow-ups/webhooks.ts `webhookBody`): the event, as its outbox row holds it. */
const WebhookDeliveryBody = z
  .object({
    id: S.Uuid.openapi({ description: 'The event id (as X-Webhook-Id): the same on every retry; deduplicate on it' }),
    type: z.enum(BOOKING_EVENT_TYPES),
    occurredAt: S.IsoDateTime.openapi({ description: "When the change was asked for (the event's timestamp); not an ordering key" }),
    // A new object over the catalogue's fields (a schema made before zod-openapi extended zod has no .openapi).
    data: z.object(BookingEventPayloadSchema.shape).openapi('BookingEvent'),
  })
  .openapi('WebhookDelivery');

/**
 * The outbound webhooks, in the document's `webhooks` (OpenAPI 3.1): one POST per event to each subscribed endpoint.
 * Registered on the top-level app, since a webhook is named, not a path under the API's prefix.
 */
export function documentWebhooks(registry: OpenAPIHono['openAPIRegistry']): void {
  const header = (description: string) => z.string().openapi({ description });
  registry.registerWebhook({
    method: 'post',
    path: 'bookingEvent',
    tags,
    summary: 'A booking event, POSTed to each active endpoint of its workspace subscribed to its type',
    description:
      'At least once, retried with exponential backoff until a 2xx answer (WEBHOOK_ATTEMPTS, WEBHOOK_TIMEOUT_MS). Verify the signature over `<timestamp>.<raw body>` and reject old timestamps.',
    security: [],
    request: {
      headers: z.object({
        [WEBHOOK_HEADERS.id.toLowerCase()]: header('The event id: the same on every retry'),
        [WEBHOOK_HEADERS.timestamp.toLowerCase()]: header('Unix seconds of this attempt'),
        [WEBHOOK_HEADERS.signature.toLowerCase()]: header('`sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`'),
        [WEBHOOK_HEADERS.event.toLowerCase()]: header('The event type'),
      }),
      ...body(WebhookDeliveryBody),
    },
    responses: { 200: { description: 'Any 2xx delivers it; anything else, or no answer in time, is retried' } },
  });
}

export function webhookRoutes(deps: AppDeps) {
  const app = apiRouter();
  const em = () => deps.orm.em.fork();

  const findWorkspace = (id: string) => lookupWorkspace(deps.orm, id);

  app.openapi(createEndpoint, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const input = c.req.valid('json');
    const fork = em();
    const endpoint = fork.create(WebhookEndpointSchema, {
      id: randomUUID(),
      workspaceId: workspace.id,
      url: input.url,
      secret: input.secret,
      eventTypes: input.eventTypes,
      active: input.active ?? true,
    });
    await fork.flush();
    return c.json(endpointDto(endpoint), 201);
  });

  app.openapi(listEndpoints, async (c) => {
    const workspace = await findWorkspace(c.req.valid('param').id);
    const { page, pageSize } = c.req.valid('query');
    const [items, total] = await findAndCount(em(), WebhookEndpointSchema, { workspaceId: workspace.id }, {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return c.json({ items: items.map(endpointDto), page, pageSize, total }, 200);
  });

  app.openapi(listDeliveries, async (c) => {
    const { id } = c.req.valid('param');
    const { page, pageSize, status } = c.req.valid('query');
    const fork = em();
    if (!(await fork.findOne(WebhookEndpointSchema, id))) throw new DomainError('not_found', `Webhook endpoint ${id} not found`);
    const [items, total] = await findAndCount(fork, WebhookDeliverySchema, { endpointId: id, ...(status ? { status } : {}) }, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: pageSize,
      offset: (page - 1) * pageSize,
    });
    return c.json({ items: items.map(deliveryDto), page, pageSize, total }, 200);
  });

  return app;
}
