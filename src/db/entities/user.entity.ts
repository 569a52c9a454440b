import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { timestamps } from './base.js';

export const ROLES = ['member', 'staff', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Users are not registered here: they are upserted from verified JWT claims (`sub` is the id). */
export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    email: p.string().length(320),
    name: p.string().length(200),
    role: p.enum([...ROLES]),
    ...timestamps,
  },
});
export type User = InferEntity<typeof UserSchema>;
