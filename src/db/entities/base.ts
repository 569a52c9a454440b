import { p } from '@mikro-orm/core';

/** Columns every mutable table carries. Spread into each entity's properties. */
export const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p
    .datetime()
    .onCreate(() => new Date())
    .onUpdate(() => new Date()),
};

/**
 * An amount in minor units: `bigint` in Postgres, a JS number here (the pricing asserts safe integers). An `integer`
 * column stopped at 2^31 − 1, about 21 million in a currency of cents and 2.1 billion in one without (VND, IDR, KRW,
 * where a year of office space or a cart of them passes it).
 */
export const money = () => p.bigint('number');
