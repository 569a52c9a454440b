import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const COMMAND_OUTCOMES = ['completed', 'failed'] as const;

export interface StoredEffects {
  bookingIds: string[];
  userIds: string[];
  workspaceIds: string[];
  spaceIds: string[];
  outboxIds: string[];
}

/**
 * The inbox. A row is written in the same transaction as the command's effect (or, for a refusal, on its
 * own), keyed by the BullMQ job id: a redelivered command finds it and returns the stored outcome. It also
 * answers GET /jobs/:id after BullMQ has trimmed the job.
 */
export const ProcessedCommandSchema = defineEntity({
  name: 'ProcessedCommand',
  tableName: 'processed_commands',
  properties: {
    id: p.string().length(128).primary(),
    name: p.string().length(64),
    userId: p.uuid().nullable().index(),
    // sha256 of the request (route + body); an Idempotency-Key reused with another body is refused.
    fingerprint: p.string().length(64).nullable(),
    outcome: p.enum([...COMMAND_OUTCOMES]),
    result: p.json<Record<string, unknown>>().nullable(),
    error: p.json<{ code: string; message: string; details?: unknown }>().nullable(),
    // What the commit touched (cache scopes, outbox rows), for redoing after-commit work on a redelivery.
    effects: p.json<StoredEffects>().nullable(),
    requestedAt: p.datetime(),
    processedAt: p.datetime(),
  },
});
export type ProcessedCommand = InferEntity<typeof ProcessedCommandSchema>;

/** Events written in the command's transaction; published to the notifications queue after commit. */
export const OutboxSchema = defineEntity({
  name: 'Outbox',
  tableName: 'outbox',
  properties: {
    id: p.uuid().primary(),
    eventType: p.string().length(64),
    aggregateId: p.uuid(),
    payload: p.json<Record<string, unknown>>(),
    commandId: p.string().length(128).nullable(),
    createdAt: p.datetime(),
    publishedAt: p.datetime().nullable(),
    attempts: p.integer().default(0),
  },
});
export type Outbox = InferEntity<typeof OutboxSchema>;
