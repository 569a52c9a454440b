import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/**
 * The process's Prometheus registry and the counters other modules increment. `/metrics` renders this registry;
 * nothing else keeps its own tallies.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const cacheRequests = new Counter({
  name: 'cache_requests_total',
  help: 'Read-through cache lookups by keyspace and result (hit, miss, error)',
  labelNames: ['keyspace', 'result'] as const,
  registers: [metricsRegistry],
});

export const cacheEvictions = new Counter({
  name: 'cache_evictions_total',
  help: 'Cache keys deleted and generations bumped after commits, by kind',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

export const cacheStoresSkipped = new Counter({
  name: 'cache_stores_skipped_total',
  help: 'Values not stored because their generation moved during the database read (a prevented stale write)',
  labelNames: ['keyspace'] as const,
  registers: [metricsRegistry],
});

export const cacheErrors = new Counter({
  name: 'cache_errors_total',
  help: 'Cache operations that failed (the read fell back to Postgres)',
  labelNames: ['op'] as const,
  registers: [metricsRegistry],
});
