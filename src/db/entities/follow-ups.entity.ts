import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { timestamps } from './base.js';
import { WorkspaceSchema } from './catalog.entity.js';
import { UserSchema } from './user.entity.js';

/**
 * Rows the follow-ups write. Each effect of an outbox event is keyed by the outbox id (plus recipient or endpoint),
 * so processing one event twice finds its effect and does nothing. `outboxId` is not a foreign key: published outbox
 * rows are pruned after their retention, their effects stay.
 */

/** In-app notification: one per booking event for the booking's user. */
export const NotificationSchema = defineEntity({
  name: 'Notification',
  tableName: 'notifications',
  properties: {
    id: p.uuid().primary(),
    userId: p.manyToOne(UserSchema).mapToPk().fieldName('user_id').deleteRule('cascade'),
    type: p.string().length(64),
    title: p.string().length(200),
    body: p.text(),
    data: p.json<Record<string, unknown>>(),
    outboxId: p.uuid().unique(),
    readAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ properties: ['userId', 'createdAt'] }],
});
export type Notification = InferEntity<typeof NotificationSchema>;

export const EMAIL_SEND_STATUSES = ['sending', 'sent', 'failed'] as const;
export type EmailSendStatus = (typeof EMAIL_SEND_STATUSES)[number];

/**
 * One email per (event, recipient). A sender claims the row (`sending`, with a lease) before it talks to the mail
 * server and marks it `sent` after; an email found `sent` is never sent again.
 */
export const EmailSendSchema = defineEntity({
  name: 'EmailSend',
  tableName: 'email_sends',
  properties: {
    id: p.uuid().primary(),
    outboxId: p.uuid(),
    recipient: p.string().length(320),
    eventType: p.string().length(64),
    status: p.enum([...EMAIL_SEND_STATUSES]),
    attempts: p.integer().default(0),
    messageId: p.string().length(998).nullable(),
    lastError: p.text().nullable(),
    claimedAt: p.datetime().nullable(),
    sentAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ properties: ['outboxId', 'recipient'] }],
});
export type EmailSend = InferEntity<typeof EmailSendSchema>;

/** An integrator's endpoint for a workspace's booking events. The secret signs deliveries; it never leaves the database. */
export const WebhookEndpointSchema = defineEntity({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoints',
  properties: {
    id: p.uuid().primary(),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id').index().deleteRule('cascade'),
    url: p.string().length(2048),
    secret: p.string().length(256),
    eventTypes: p.json<string[]>(),
    active: p.boolean().default(true),
    ...timestamps,
  },
});
export type WebhookEndpoint = InferEntity<typeof WebhookEndpointSchema>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'retrying', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** One delivery of one event to one endpoint: attempts, the last answer, the final status. */
export const WebhookDeliverySchema = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_deliveries',
  properties: {
    id: p.uuid().primary(),
    endpointId: p.manyToOne(WebhookEndpointSchema).mapToPk().fieldName('endpoint_id').deleteRule('cascade'),
    outboxId: p.uuid(),
    eventType: p.string().length(64),
    status: p.enum([...WEBHOOK_DELIVERY_STATUSES]),
    statusCode: p.integer().nullable(),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
    deliveredAt: p.datetime().nullable(),
    ...timestamps,
  },
  uniques: [{ properties: ['endpointId', 'outboxId'] }],
  indexes: [{ properties: ['endpointId', 'createdAt'] }],
});
export type WebhookDelivery = InferEntity<typeof WebhookDeliverySchema>;
