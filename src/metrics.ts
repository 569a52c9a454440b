import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { assertConnected } from './redis.js';

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

// ---- HTTP (src/api/middleware/observe.ts) ----

export const httpRequests = new Counter({
  name: 'http_requests_total',
  help: 'HTTP requests by method, route pattern (never the raw URL) and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request latency by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [metricsRegistry],
});

// ---- jobs (src/jobs/instrument.ts) ----

export const jobDuration = new Histogram({
  name: 'job_duration_seconds',
  help: 'Time a worker spent on one attempt of a job, by queue, job name and outcome',
  labelNames: ['queue', 'name', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

export const jobOutcomes = new Counter({
  name: 'jobs_total',
  help: 'Job attempts by queue, job name and outcome: completed, refused (domain refusal, not retried) or failed (thrown; retried while attempts remain)',
  labelNames: ['queue', 'name', 'outcome'] as const,
  registers: [metricsRegistry],
});

/** Commands per group written (src/commands/group-commit.ts); the groups that failed count as fallbacks. */
export const commandGroupSize = new Histogram({
  name: 'command_group_size',
  help: 'Booking creates written together by one group commit',
  buckets: [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144],
  registers: [metricsRegistry],
});

/** Calls per coalesced statement (src/db/coalesce.ts): how many follow-up jobs shared one round trip, by statement. */
export const statementBatchSize = new Histogram({
  name: 'statement_batch_size',
  help: 'Calls that shared one coalesced statement (src/db/coalesce.ts), by statement',
  labelNames: ['statement'] as const,
  buckets: [1, 2, 3, 5, 8, 13, 21, 34, 55, 89],
  registers: [metricsRegistry],
});

export const commandGroupFallbacks = new Counter({
  name: 'command_group_fallbacks_total',
  help: 'Commands of a group whose insert failed (a fault, a concurrent delivery: anything but a taken slot) and that then ran alone',
  registers: [metricsRegistry],
});

// ---- queue depth: read from Redis at scrape time ----

const observedQueues = new Set<Queue>();

/**
 * Counts every observed queue's jobs per state when /metrics is scraped. The web process observes its producer
 * queues; a queue being closed is dropped. A Redis error leaves that queue out of the scrape instead of failing it.
 */
export function observeQueueDepth(queues: Queue[]): void {
  for (const q of queues) observedQueues.add(q);
}

/** The queue counts of the scrape under way, which the error counter's collect waits for (so it counts this scrape's). */
let countingQueues: Promise<unknown> = Promise.resolve();

export const queueJobs = new Gauge({
  name: 'queue_jobs',
  help: 'Jobs per queue and state (waiting, active, delayed, prioritized, waiting-children, completed, failed; a paused queue’s jobs are waiting), read at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    countingQueues = Promise.all(
      [...observedQueues].map(async (queue) => {
        if (queue.closing) {
          observedQueues.delete(queue);
          return;
        }
        try {
          // BullMQ waits for its connection's first connect before any command: with Redis down since the start,
          // the scrape would hang there, where a connection that is not up fails at once.
          assertConnected(queue.opts.connection);
          const counts = await queue.getJobCounts();
          for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
        } catch {
          queueScrapeErrors.inc({ queue: queue.name });
        }
      }),
    );
    await countingQueues;
  },
});

// Registered after queue_jobs, whose collect prom-client then starts first: this one waits for it, so a scrape that
// leaves a queue out counts that in the same answer.
export const queueScrapeErrors = new Counter({
  name: 'queue_jobs_scrape_errors_total',
  help: 'Scrapes that could not count a queue (Redis unreachable); queue_jobs then omits that queue',
  labelNames: ['queue'] as const,
  registers: [metricsRegistry],
  async collect() {
    await countingQueues;
  },
});

// ---- maintenance sweeps (src/maintenance/last-success.ts) ----

let sweepSource: (() => Promise<Record<string, Date>>) | undefined;

export const sweepLastSuccess = new Gauge({
  name: 'maintenance_sweep_last_success_timestamp_seconds',
  help: 'Unix time of the last successful run of each maintenance sweep (set by the scheduler; read from Redis elsewhere)',
  labelNames: ['sweep'] as const,
  registers: [metricsRegistry],
  async collect() {
    // Processes other than the scheduler learn the times from Redis (see observeSweeps).
    if (sweepSource) {
      try {
        for (const [sweep, at] of Object.entries(await sweepSource())) this.set({ sweep }, at.getTime() / 1000);
      } catch {
        /* Redis unreachable: keep the last values */
      }
    }
  },
});

/** Lets /metrics of this process report the sweeps' last successes as recorded in Redis. */
export function observeSweeps(read: () => Promise<Record<string, Date>>): void {
  sweepSource = read;
}
