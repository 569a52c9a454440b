// The domain's public surface. calendar.ts stays internal: its helpers are details of pricing and time rules.
export * from './errors.js';
export * from './booking-state.js';
export * from './pricing.js';
export * from './time-rules.js';
export * from './promo.js';
export * from './reviews.js';
