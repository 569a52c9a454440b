/**
 * A steady, open-loop load (requests go out on schedule whether or not earlier ones answered, so a slow
 * answer cannot hide latency). Commands (with a `watch`): the completion of each one's job is observed through
 * QueueEvents, and with `preferWait` every other request carries `Prefer: wait=5`, its round trip measured from
 * send to the last byte; used for figure 3 (the service), B5 (the bare pipeline) and figure 4's writer. Without a
 * watch a request is done when its 200 arrives: figure 4's detail reads at a light load, and B3 alike.
 *
 * The latency figures run it in a process of its own ({@link LoadClient}, bench/load-client.ts): this process holds
 * every figure's state (a heap of 100+ MB), and its own garbage collection (scavenges of 3–5 ms, more often when the
 * answers are larger) stopped the clock of whatever was in flight, which showed as the service's tail.
 */
import { QueueEvents, QueueKeys } from 'bullmq';
import { Redis } from 'ioredis';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile } from './table.js';
import { Child, sleep, waitUntil, type LoadResult } from './lib.js';

export interface OpenLoopResult {
  sent: number;
  /** Sent → job completed (QueueEvents 'completed' seen by this process), every request; without a watch, → 200 received. */
  completed: number[];
  /** POST with `Prefer: wait=5` sent → answer received (200 when the job finished in time, else 202 after ~5 s). */
  waitRoundTrip: number[];
  /** `Prefer: wait=5` requests answered 202: the job had not finished within 5 s. */
  waitTimeouts: number;
  failures: string[];
  achievedRate: number;
  /** With a watch: each completed job's id, when its request was sent and when its completion was seen (epoch ms). */
  jobs: WatchedJob[];
  /** Without a watch: when each answered request was sent (epoch ms), in the order of `completed`. */
  answeredAtMs: number[];
}

export interface WatchedJob {
  jobId: string;
  sentAtMs: number;
  seenAtMs: number;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  waitP50: number;
  waitP99: number;
  waitTimeouts: number;
  failures: number;
}

export function summarize(r: OpenLoopResult): LatencySummary {
  return {
    p50: percentile(r.completed, 50),
    p99: percentile(r.completed, 99),
    waitP50: percentile(r.waitRoundTrip, 50),
    waitP99: percentile(r.waitRoundTrip, 99),
    waitTimeouts: r.waitTimeouts,
    failures: r.failures.length,
  };
}

/** Throws with a few examples when any run had a failed request or job. */
export function assertNoFailures(what: string, runs: OpenLoopResult[]): void {
  const failures = runs.flatMap((r) => r.failures);
  if (failures.length) throw new Error(`${what}: ${failures.length} failures, e.g. ${failures.slice(0, 3).join(' | ')}`);
}

interface Sent {
  at: number;
  wait: boolean;
  jobId?: string;
}

/** A QueueEvents listener recording when each job of a queue completed or failed. */
export class CompletionWatch {
  readonly completedAt = new Map<string, number>();
  readonly failed = new Map<string, string>();
  private readonly events: QueueEvents;
  private readonly connection: Redis;

  constructor(queue: string, redisUrl: string, prefix: string) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.events = new QueueEvents(queue, { connection: this.connection, prefix });
    this.events.on('completed', ({ jobId }) => this.completedAt.set(jobId, performance.now()));
    this.events.on('failed', ({ jobId, failedReason }) => this.failed.set(jobId, failedReason));
  }

  ready() {
    return this.events.waitUntilReady();
  }

  /** Drops what was recorded of a job (a watch that follows many runs keeps only what is still awaited). */
  forget(jobId: string): void {
    this.completedAt.delete(jobId);
    this.failed.delete(jobId);
  }

  async close() {
    await this.events.close();
    this.connection.disconnect();
  }
}

/** One request of an open-loop load (POST unless given); content headers are added by openLoop. */
export interface OpenLoopRequest {
  method?: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: string;
  headers: Record<string, string>;
}

export async function openLoop(opts: {
  url: string;
  rate: number;
  durationMs: number;
  watch?: CompletionWatch;
  /** Every other request carries `Prefer: wait=5` (needs a watch). */
  preferWait?: boolean;
  /** The i-th request. */
  request: (i: number) => OpenLoopRequest;
}): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const base = new URL(opts.url);
  const sent: Sent[] = [];
  const failures: string[] = [];
  const roundTrips: number[] = [];
  const answered: number[] = []; // without a watch
  const answeredAt: number[] = [];
  let waitTimeouts = 0;
  const inflight = new Set<Promise<void>>();

  const fire = (i: number) => {
    const wait = opts.preferWait === true && i % 2 === 1;
    const { method = 'POST', path, body, headers } = opts.request(i);
    const rec: Sent = { at: performance.now(), wait };
    sent.push(rec);
    const p = new Promise<void>((resolve) => {
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          path,
          method,
          agent,
          headers: {
            ...headers,
            ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
            ...(wait ? { prefer: 'wait=5' } : {}),
          },
        },
        (res) => {
          // A read answered 200 needs only its last byte: its body is drained, not kept. Keeping each answer as a
          // Buffer and a string (a list page is 12 KB) made this process run 3–5 full collections per 5-s run of
          // list reads at 500/s (3–15 ms each, its clock stopped), which showed as the list's tail; 1–3 since.
          const keep = opts.watch !== undefined || res.statusCode !== 200;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => void (keep && chunks.push(c)));
          res.on('end', () => {
            const doneAt = performance.now();
            const text = keep ? Buffer.concat(chunks).toString() : '';
            if (!opts.watch) {
              if (res.statusCode === 200) answered.push(doneAt - rec.at), answeredAt.push(performance.timeOrigin + rec.at);
              else failures.push(`${res.statusCode} ${text.slice(0, 200)}`);
              return resolve();
            }
            try {
              const json = JSON.parse(text) as { jobId?: string; id?: string; state?: string };
              rec.jobId = json.jobId ?? json.id;
              if (wait && res.statusCode === 200 && json.state === 'completed') roundTrips.push(doneAt - rec.at);
              else if (wait && res.statusCode === 202) {
                roundTrips.push(doneAt - rec.at);
                waitTimeouts++;
              } else if (wait) failures.push(`wait: ${res.statusCode} ${text.slice(0, 200)}`);
              else if (res.statusCode !== 202) failures.push(`${res.statusCode} ${text.slice(0, 200)}`);
            } catch {
              failures.push(`${res.statusCode} ${text.slice(0, 200)}`);
            }
            resolve();
          });
        },
      );
      req.on('error', (e) => {
        failures.push(String(e));
        resolve();
      });
      req.end(body);
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };

  const start = performance.now();
  let i = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= opts.durationMs) break;
    const due = Math.floor((elapsed * opts.rate) / 1000) + 1;
    while (i < due) fire(i++);
    await sleep(1);
  }
  const achievedRate = (i * 1000) / (performance.now() - start);
  await Promise.all(inflight);
  agent.destroy();
  const watch = opts.watch;
  if (!watch) return { sent: i, completed: answered, waitRoundTrip: roundTrips, waitTimeouts, failures, achievedRate, jobs: [], answeredAtMs: answeredAt };

  const withJob = sent.filter((s) => s.jobId);
  await waitUntil(
    'every job of the steady load to finish',
    () => withJob.every((s) => watch.completedAt.has(s.jobId!) || watch.failed.has(s.jobId!)),
    // A worker slower than the offered rate leaves a backlog: give it time to drain rather than fail.
    30_000 + 50 * withJob.length,
  ).catch((e) => failures.push(String(e)));

  const completed: number[] = [];
  const jobs: WatchedJob[] = [];
  const epoch = (t: number) => performance.timeOrigin + t;
  for (const s of withJob) {
    const at = watch.completedAt.get(s.jobId!);
    if (at !== undefined) {
      completed.push(at - s.at);
      jobs.push({ jobId: s.jobId!, sentAtMs: epoch(s.at), seenAtMs: epoch(at) });
    }
    else if (watch.failed.has(s.jobId!)) failures.push(`job ${s.jobId} failed: ${watch.failed.get(s.jobId!)}`);
    watch.forget(s.jobId!);
  }
  return { sent: i, completed, waitRoundTrip: roundTrips, waitTimeouts, failures, achievedRate, jobs, answeredAtMs: [] };
}

/** Where a command's time went, per stage, from its job's own timestamps (one clock: every process is on this machine). */
export interface Stages {
  /** Request sent → job added (Queue.add's timestamp, taken in the process that added it). */
  api: number[];
  /** Added → taken by a worker (processedOn). */
  waiting: number[];
  /** Taken → finished (finishedOn): the processor and BullMQ's completion. */
  worker: number[];
  /** Finished → its completion seen through QueueEvents by the bench. */
  event: number[];
}

/** The Redis key of a job's hash, by BullMQ's own key layout. */
export const jobKey = (prefix: string, queue: string, jobId: string) => new QueueKeys(prefix).toKey(queue, jobId);

export async function stagesOf(redis: Redis, keyOf: (jobId: string) => string, jobs: WatchedJob[]): Promise<Stages> {
  const pipeline = redis.pipeline();
  for (const j of jobs) pipeline.hmget(keyOf(j.jobId), 'timestamp', 'processedOn', 'finishedOn');
  const replies = (await pipeline.exec()) ?? [];
  const out: Stages = { api: [], waiting: [], worker: [], event: [] };
  replies.forEach(([err, fields], i) => {
    const [added, taken, finished] = ((fields as (string | null)[] | undefined) ?? []).map(Number);
    // A job trimmed by then (removeOnComplete) has no hash left: it is skipped.
    if (err || !added || !taken || !finished) return;
    const j = jobs[i]!;
    out.api.push(added - j.sentAtMs);
    out.waiting.push(taken - added);
    out.worker.push(finished - taken);
    out.event.push(j.seenAtMs - finished);
  });
  return out;
}

/** What the load client runs: openLoop's options, each request written out beforehand (they cross a process line). */
export interface OpenLoopSpec {
  url: string;
  rate: number;
  durationMs: number;
  preferWait?: boolean;
  /** Completions watched on this queue (QueueEvents in the load client's process). */
  watch?: { queue: string; redisUrl: string; prefix: string };
  /** Request i is requests[i] ({@link writeOut} makes as many as the schedule can send). */
  requests: OpenLoopRequest[];
}

/** A closed-loop read load for the load client: autocannon at `connections`, request i is gets[i % gets.length]. */
export interface ReadLoadSpec {
  url: string;
  connections: number;
  durationS: number;
  gets: Omit<OpenLoopRequest, 'method' | 'body'>[];
}

/** One message to the load client: an open loop, or a read load. */
export type LoadClientJob = { open: OpenLoopSpec; reads?: undefined } | { reads: ReadLoadSpec; open?: undefined };

/** The requests an open loop at `rate` for `durationMs` can send, written out (its schedule's last one, and one to spare). */
export const writeOut = (rate: number, durationMs: number, request: (i: number) => OpenLoopRequest): OpenLoopRequest[] =>
  Array.from({ length: Math.ceil((rate * durationMs) / 1000) + 2 }, (_, i) => request(i));

/** openLoop's `request` over a written-out list: one beyond it is a bug of the caller's count, not a request to repeat. */
export function fromList(requests: OpenLoopRequest[]): (i: number) => OpenLoopRequest {
  return (i) => {
    const r = requests[i];
    if (!r) throw new Error(`open loop: request ${i} of ${requests.length} written out`);
    return r;
  };
}

/**
 * Open loops and the 50-connection reads run in a process of their own (bench/load-client.ts), one at a time: its
 * heap holds only the load in flight, so its collections are short, and its clock is not stopped by this process's.
 * Its CPU is counted with the bench's own (figure 3's CPU per command). It stops with the bench's other children
 * (lib.ts stopAllChildren).
 */
export class LoadClient {
  private seq = 0;

  private constructor(private readonly child: Child) {}

  static async start(): Promise<LoadClient> {
    const child = new Child('load-client', 'bench/load-client.ts', {}, [], true);
    await child.waitForLine(/load client ready/);
    return new LoadClient(child);
  }

  cpuMs(): number {
    return this.child.cpuMs();
  }

  run(spec: OpenLoopSpec): Promise<OpenLoopResult> {
    return this.ask<OpenLoopResult>({ open: spec });
  }

  /** A 50-connection read load (autocannon), its GETs taken in turn from `spec.gets`. */
  reads(spec: ReadLoadSpec): Promise<LoadResult> {
    return this.ask<LoadResult>({ reads: spec });
  }

  private ask<T>(job: LoadClientJob): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const proc = this.child.proc;
      const onMessage = (m: { id: number; result?: T; error?: string }) => {
        if (m.id !== id) return;
        done();
        if (m.error !== undefined) reject(new Error(`load client: ${m.error}`));
        else resolve(m.result!);
      };
      const onExit = () => {
        done();
        reject(new Error(`load client exited:\n${this.child.tail()}`));
      };
      const done = () => {
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      proc.on('message', onMessage);
      proc.once('exit', onExit);
      proc.send({ id, ...job });
    });
  }
}
