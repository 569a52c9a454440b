import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { timestamps } from './base.js';

export const SPACE_KINDS = ['desk', 'office', 'meeting_room'] as const;
export type SpaceKind = (typeof SPACE_KINDS)[number];

export const WorkspaceSchema = defineEntity({
  name: 'Workspace',
  tableName: 'workspaces',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200),
    timezone: p.string().length(64),
    currency: p.string().length(3),
    taxRateBps: p.integer(),
    ...timestamps,
  },
});
export type Workspace = InferEntity<typeof WorkspaceSchema>;

export const SpaceSchema = defineEntity({
  name: 'Space',
  tableName: 'spaces',
  properties: {
    id: p.uuid().primary(),
    workspaceId: p.manyToOne(WorkspaceSchema).mapToPk().fieldName('workspace_id').index(),
    name: p.string().length(200),
    kind: p.enum([...SPACE_KINDS]),
    capacity: p.integer(),
    // Rates in minor units of the workspace's currency.
    hourlyRate: p.integer(),
    dailyRate: p.integer(),
    monthlyRate: p.integer(),
    active: p.boolean().default(true),
    ...timestamps,
  },
});
export type Space = InferEntity<typeof SpaceSchema>;
