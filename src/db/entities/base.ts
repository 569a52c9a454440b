import { p } from '@mikro-orm/core';

/** Columns every mutable table carries. Spread into each entity's properties. */
export const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p
    .datetime()
    .onCreate(() => new Date())
    .onUpdate(() => new Date()),
};
