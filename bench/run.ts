/**
 * `npm run bench` — every figure next to a baseline measured in the same run, as one markdown table.
 *   --quick        a small version (under a minute) that CI may run to keep this script working
 *   --workers=N    worker processes for figures 1 and 3 (default 1, at the service's default COMMAND_CONCURRENCY)
 *   --tsx | --build  children run TypeScript through tsx, or the project compiled by tsc into a temporary directory
 *                  (as the Procfile runs dist/); the full run builds, --quick uses tsx
 *   --profile[=dir] the web and worker processes run under `node --cpu-prof`; their hot spots follow the table
 *                  (with =dir the .cpuprofile files are kept there)
 * Each figure runs interleaved with its baseline (baseline run, figure run, baseline run, …) after a warm-up of
 * both, so a noisy neighbour slows both sides of a ratio alike. The web and worker children run with the node flags
 * of the Procfile's `web` and `worker` lines (V8 heap sizing), as production does. The bench creates its own database and Redis
 * prefix and removes both, and its child processes, even on failure. See README.md → Performance.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rawCachedRead, rawEnqueue, rawHttp, rawQueue, roundTrip } from './baselines.js';
import { QUEUE_NAMES } from '../src/jobs/catalogue.js';
import { CommandQueue, drainCommands, waitIdle, type CreatedBooking } from './commands.js';
import { printProfile } from './cpuprofile.js';
import { cacheCounters, detailRead, readEach, detailReadWithWrites, hitRatio, hitRatios, httpEnqueue, listRead, ownBooking, ownList, type MixedRun } from './http.js';
import {
  Child,
  childTails,
  freePort,
  kernelReclaimLabel,
  killAllChildrenNow,
  machineBusyMs,
  processesCpuMs,
  cpuGrowthMs,
  redisCpuMs,
  log,
  nodeFlagDrift,
  procfileNodeArgs,
  removeBuild,
  removeChildLogs,
  runtimeLabel,
  stopAllChildren,
  useCompiledBuild,
  waitForHttp,
  type LoadResult,
} from './lib.js';
import { assertNoFailures, CompletionWatch, jobKey, LoadClient, stagesOf, writeOut, summarize, type LatencySummary, type OpenLoopRequest, type OpenLoopResult, type Stages } from './open-loop.js';
import { B5_QUEUE } from './baseline-queues.js';
import { RedisStalls, type Stalls } from './redis-stalls.js';
import { burstEffect, KernelMonitorBursts, type BurstEffect } from './kernel-bursts.js';
import { BENCH_JWT_SECRET, createBenchEnv, createBody, daysAhead, seed, serverVersions, Slots, type BenchEnv } from './setup.js';
import { fmt, num, percentile, ratio, renderTable, stat, type Row, type Stat } from './table.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const profileArg = args.find((a) => a === '--profile' || a.startsWith('--profile='));
const profile = profileArg !== undefined;
/** `--profile=<dir>` keeps the .cpuprofile files there (open them in Chrome DevTools or with bench/cpuprofile.ts). */
const keepProfiles = profileArg?.includes('=') ? profileArg.slice('--profile='.length) : undefined;
const workerCount = Number(args.find((a) => a.startsWith('--workers='))?.split('=')[1] ?? 1);
/** Children run compiled JS (as the Procfile does) unless --quick or --tsx; --build forces the build in --quick. */
const compiled = args.includes('--build') || (!quick && !args.includes('--tsx'));

const P = quick
  ? { runs: 3, commands: 100, warmCommands: 20, rawJobs: 1000, loadS: 0.4, warmS: 0.2, steadyMs: 400, warmSteadyMs: 200, workspaces: 2, spaces: 10, members: 50, readSet: 500 }
  : { runs: 3, commands: 6000, warmCommands: 2000, rawJobs: 20_000, loadS: 3, warmS: 1, steadyMs: 5000, warmSteadyMs: 1500, workspaces: 4, spaces: 25, members: 200, readSet: 2000 };
const CONNECTIONS = 50;
const STEADY_RATE = 200;
/** Figure 4: the detail read's light open-loop load, and the writer's rate under the 50-connection reads. */
const READ_RATE = 500;
const WRITE_RATE = 50;
/** The issue's baselines run a Worker at concurrency 10; the service's worker runs at its configured default. */
const BASELINE_CONCURRENCY = 10;
const defaults = (await import('../src/config.js')).loadConfig({}) as { queue: { commandConcurrency: number; commandGroupMax?: number }; cache?: { enabled?: unknown } };
const serviceDefaults = defaults.queue;

/** The web and worker children run with the Procfile's node flags (V8 heap sizing): what production runs. */
const NODE_FLAGS = { web: procfileNodeArgs('web'), worker: procfileNodeArgs('worker') };

/** Does the service have a switch for its read cache? Then reads are measured with it on and off. */
const CACHE_SWITCH = defaults.cache?.enabled !== undefined;

function serviceEnv(env: BenchEnv, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'development',
    DATABASE_URL: env.dbUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.prefix,
    JWT_SECRET: BENCH_JWT_SECRET,
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '10000',
    ...extra,
  };
}

async function startApi(env: BenchEnv, name: string, extra: Record<string, string>, nodeArgs: string[]) {
  const port = await freePort();
  const child = new Child(name, 'src/web.ts', serviceEnv(env, { PORT: String(port), HOST: '127.0.0.1', ...extra }), [...NODE_FLAGS.web, ...nodeArgs]);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`, child);
  return { child, base };
}

/** A worker process, with its /metrics on HEALTH_PORT: the cache evictions happen there (figure 4's writes). */
async function startWorker(env: BenchEnv, i: number, nodeArgs: string[]) {
  const port = await freePort();
  const child = new Child(`worker-${i}`, 'workers/worker.ts', serviceEnv(env, { HEALTH_PORT: String(port), HOST: '127.0.0.1' }), [...NODE_FLAGS.worker, ...nodeArgs]);
  await child.waitForLine(/worker started/);
  const health = `http://127.0.0.1:${port}`;
  await waitForHttp(`${health}/healthz`, child);
  return { child, health };
}

/**
 * The scheduler process, as the Procfile runs it beside web and worker: its maintenance jobs (sweeps, outbox relay,
 * the table statistics of src/maintenance/table-stats.ts) run during the figures as they would in production.
 */
async function startScheduler(env: BenchEnv) {
  const child = new Child('scheduler', 'workers/scheduler.ts', serviceEnv(env), procfileNodeArgs('scheduler'));
  await child.waitForLine(/scheduler started/);
  return child;
}

/**
 * Warm-up of every contender, then `runs` rounds in which each contender runs once, in order: results per name.
 */
async function interleaved<K extends string, T>(
  contenders: Record<K, { run: () => Promise<T>; warm: () => Promise<unknown> }>,
): Promise<Record<K, T[]>> {
  const names = Object.keys(contenders) as K[];
  const out = {} as Record<K, T[]>;
  for (const n of names) {
    await contenders[n].warm();
    out[n] = [];
  }
  for (let r = 0; r < P.runs; r++) for (const n of names) out[n].push(await contenders[n].run());
  return out;
}

type Lat = { rps: Stat; p50: Stat; p99: Stat };
const lat = (runs: LoadResult[]): Lat => ({ rps: stat(runs.map((r) => r.rps)), p50: stat(runs.map((r) => r.p50)), p99: stat(runs.map((r) => r.p99)) });
const flagLabel = (flags: string[]) => (flags.length ? flags.join(' ') : 'none');
const check = (ok: boolean, target: string) => `${ok ? '✓' : '✗'} target ${target}`;

function assertClean(what: string, runs: LoadResult[]) {
  const bad = runs.reduce((s, r) => s + r.bad + r.errors, 0);
  if (bad) throw new Error(`${what}: ${bad} non-2xx answers or errors`);
}

async function main() {
  const started = new Date();
  const load0 = os.loadavg()[0]!;
  log(`${quick ? 'quick' : 'full'} run${profile ? ' (profiled)' : ''}: creating database and Redis prefix`);
  const building = compiled ? useCompiledBuild() : Promise.resolve();
  building.catch(() => undefined); // awaited below
  const env = await createBenchEnv().catch(async (e: unknown) => {
    await building.catch(() => undefined);
    removeBuild();
    throw e;
  });
  try {
    await building;
  } catch (e) {
    await env.cleanup();
    throw e;
  }
  let exiting = false;
  const onSignal = (sig: string) => {
    if (exiting) return;
    exiting = true;
    log(`${sig}: stopping children and cleaning up`);
    killAllChildrenNow();
    removeChildLogs();
    removeBuild();
    void env.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  const profileDir = keepProfiles ?? (profile ? mkdtempSync(join(os.tmpdir(), 'bench-prof-')) : undefined);
  const profiled = new Map<string, string>(); // child name → its profile's directory
  const profArgs = (name: string) => {
    if (!profileDir) return [];
    const dir = join(profileDir, name);
    profiled.set(name, dir);
    return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  };

  try {
    const versions = await serverVersions(env);
    const cq = new CommandQueue(env);
    await cq.queue.pause();

    // Every process at once: the service's web, worker(s) and scheduler, and the bare baselines (the web with the cache off joins at figure 4).
    log('starting processes');
    const basePort = await freePort();
    const baseEnv = { REDIS_URL: env.redisUrl, DATABASE_URL: env.dbUrl, QUEUE_PREFIX: env.prefix, PORT: String(basePort), CONCURRENCY: String(BASELINE_CONCURRENCY) };
    const baseline = async (role: string, ready: RegExp) => {
      const c = new Child(`baseline-${role}`, 'bench/baseline-server.ts', { ...baseEnv, BENCH_ROLE: role });
      await c.waitForLine(ready);
      return c;
    };
    const [api, workerProcs, , baseWeb, baseWorker] = await Promise.all([
      startApi(env, 'web', {}, profArgs('web')),
      Promise.all(Array.from({ length: workerCount }, (_, i) => startWorker(env, i, profArgs(`worker-${i}`)))),
      startScheduler(env),
      baseline('web', /baseline web listening/),
      baseline('worker', /baseline worker started/),
    ]);
    const baseUrl = `http://127.0.0.1:${basePort}`;
    const loadClient = await LoadClient.start(); // the open loops (figures 3 and 4, B3, B5, B6) and figure 4's reads
    const workers = workerProcs.map((w) => w.child);
    const idle = { api: api.child.rss().current, worker: workers[0]!.rss().current };

    log('seeding workspaces, spaces and members through the admin API');
    const world = await seed(api.base, { workspaces: P.workspaces, spacesPerWorkspace: P.spaces, members: P.members });
    const users = world.members;
    const booked = new Slots(world.spaces, daysAhead(2)); // slots that get booked (figures 1 and 3)
    const scratch = new Slots(world.spaces, daysAhead(400)); // payloads never booked (baselines, figure 2)
    const created: CreatedBooking[] = [];

    // ---- B7: one round trip, before anything else loads the machine ----
    log('B7 one round trip (Postgres, Redis)');
    const b7runs: Awaited<ReturnType<typeof roundTrip>>[] = [];
    for (let r = 0; r < P.runs; r++) b7runs.push(await roundTrip(env, quick ? 300 : 3000));

    // ---- B1; B2 ↔ figure 1 (first of the figures: it makes the bookings the reads need) ----
    log(`B1 raw queue: ${P.rawJobs} jobs`);
    const b1runs: number[] = [];
    await rawQueue(env, P.rawJobs / 4, false, { slots: scratch, users });
    for (let r = 0; r < P.runs; r++) b1runs.push((await rawQueue(env, P.rawJobs, false, { slots: scratch, users })).rate);
    log(`B2 ↔ figure 1: ${P.rawJobs} jobs ↔ ${P.commands} create-booking commands, ${workerCount} worker process(es)`);
    const drainTimeout = quick ? 30_000 : 300_000;
    const f1cpu: number[] = [];
    const b2cpu: number[] = [];
    const f1raw = await interleaved({
      b2: {
        run: async () => {
          const r = await rawQueue(env, P.rawJobs, true, { slots: scratch, users });
          b2cpu.push(r.cpuMs);
          return r.rate;
        },
        warm: () => rawQueue(env, P.rawJobs / 4, true, { slots: scratch, users }),
      },
      f1: {
        run: async () => {
          const cpu0 = workers.reduce((s, w) => s + w.cpuMs(), 0);
          const rate = await drainCommands(env, cq, P.commands, booked, users, created, drainTimeout);
          // The notification jobs the commands' events fanned out to run on in the same process (not timed above):
          // wait for them, so they do not spill into the next run, and count their CPU as the command's.
          await waitIdle(env, QUEUE_NAMES.notifications, drainTimeout);
          f1cpu.push((workers.reduce((s, w) => s + w.cpuMs(), 0) - cpu0) / P.commands);
          return rate;
        },
        warm: async () => {
          await drainCommands(env, cq, P.warmCommands, booked, users, created, drainTimeout);
          await waitIdle(env, QUEUE_NAMES.notifications, drainTimeout);
        },
      },
    });
    const [b1, b2, f1] = [stat(b1runs), stat(f1raw.b2), stat(f1raw.f1)];
    const workerPeak = Math.max(...workers.map((w) => w.rss().peak));
    log(`  B2 ${fmt(b2, 'jobs/s')} · figure 1 ${fmt(f1, 'commands/s')}`);

    // ---- B4 ↔ figure 2 (the commands queue paused: B4 has no consumer either) ----
    log('B4 ↔ figure 2: HTTP enqueue');
    const scratchBody = () => JSON.stringify(createBody(scratch.next(), 0));
    await cq.queue.pause();
    const before202 = await cq.pending();
    // Each server's CPU per answered request beside req/s: the machine's speed swings between runs and sessions
    // (req/s with it), while the CPU a request costs its server is what the code changes.
    const cpuPerRequest = { b4: [] as number[], f2: [] as number[] };
    const timedCpu = async (proc: Child, into: number[], run: () => Promise<LoadResult>) => {
      const cpu0 = proc.cpuMs();
      const r = await run();
      into.push(((proc.cpuMs() - cpu0) * 1000) / Math.max(1, r.ok));
      return r;
    };
    const f2raw = await interleaved({
      b4: { run: () => timedCpu(baseWeb, cpuPerRequest.b4, () => rawEnqueue(env, baseUrl, CONNECTIONS, P.loadS, scratchBody)), warm: () => rawEnqueue(env, baseUrl, CONNECTIONS, P.warmS, scratchBody) },
      f2: { run: () => timedCpu(api.child, cpuPerRequest.f2, () => httpEnqueue(api.base, users, scratch, CONNECTIONS, P.loadS)), warm: () => httpEnqueue(api.base, users, scratch, CONNECTIONS, P.warmS) },
    });
    assertClean('B4', f2raw.b4);
    assertClean('figure 2', f2raw.f2);
    // Nothing lost: every 202 is a job in the queue (warm-up requests were enqueued too, hence ≥).
    const queued = (await cq.pending()) - before202;
    const answered202 = f2raw.f2.reduce((s, r) => s + r.ok, 0);
    if (queued < answered202) throw new Error(`figure 2: ${answered202} answered 202 but only ${queued} jobs are queued`);
    const apiPeakF2 = api.child.rss().peak;
    await cq.queue.obliterate({ force: true });
    await cq.queue.resume();
    const [b4, f2] = [lat(f2raw.b4), lat(f2raw.f2)];
    const [b4cpu, f2cpu] = [stat(cpuPerRequest.b4), stat(cpuPerRequest.f2)];
    log(`  B4 ${fmt(b4.rps, 'req/s')} · figure 2 ${fmt(f2.rps, 'req/s')}`);

    // ---- B5 ↔ figure 3: latency at a steady load ----
    // At 200/s as the issue asks; when that is more than half of what the worker sustained in figure 1, commands
    // queue and the figure measures the backlog, so a second load at half the sustained rate shows the unqueued cost.
    const rates = [STEADY_RATE];
    const light = Math.max(10, Math.floor((f1.median * 0.5) / 10) * 10);
    if (light < STEADY_RATE) rates.push(light);
    // The open loops run in the load client, each request written out beforehand; its QueueEvents watch the completions.
    const watchOf = (queue: string) => ({ queue, redisUrl: env.redisUrl, prefix: env.prefix });
    // CPU per command of the measured runs at each rate, for ours and for B5 alike: the web and worker process(es)
    // (ours with their notification jobs), Redis and Postgres (when they run on this machine), the bench's own (the
    // load client's open loop and QueueEvents, and this process), and the whole machine: where its CPU per command goes.
    type CpuSplit = Record<'web' | 'worker' | 'redis' | 'postgres' | 'bench' | 'machine', number>;
    const steadyCpu = { b5: new Map<number, CpuSplit[]>(), f3: new Map<number, CpuSplit[]>() };
    const cpuNow = async (web: Child, workerChildren: Child[]) => ({
      web: web.cpuMs(),
      worker: workerChildren.reduce((s, w) => s + w.cpuMs(), 0),
      redis: await redisCpuMs(env.redis).catch(() => NaN),
      bench: ((u) => (u.user + u.system) / 1000)(process.cpuUsage()) + loadClient.cpuMs(),
      machine: machineBusyMs(),
    });
    /** Runs one steady load, waits for what it left running (`settle`), and records its CPU per command under `into`. */
    const withCpu = async (into: Map<number, CpuSplit[]>, side: { web: Child; workers: Child[] }, rate: number, run: () => Promise<OpenLoopResult>, settle: () => Promise<unknown>) => {
      const [cpu0, pg0] = [await cpuNow(side.web, side.workers), processesCpuMs('postgres')];
      const result = await run();
      await settle();
      const cpu1 = await cpuNow(side.web, side.workers);
      const perCommand = (cpuMs: number) => cpuMs / Math.max(1, result.sent);
      const grown = (k: keyof typeof cpu1) => perCommand(cpu1[k] - cpu0[k]);
      const runs = into.get(rate) ?? [];
      runs.push({
        web: grown('web'),
        worker: grown('worker'),
        redis: grown('redis'),
        postgres: perCommand(cpuGrowthMs(pg0, processesCpuMs('postgres'))),
        bench: grown('bench'),
        machine: grown('machine'),
      });
      into.set(rate, runs);
      return result;
    };
    const b5load = (rate: number, ms: number) =>
      loadClient.run({
        url: baseUrl,
        rate,
        durationMs: ms,
        watch: watchOf(B5_QUEUE),
        preferWait: true,
        requests: writeOut(rate, ms, (i) => ({ path: '/command', body: JSON.stringify({ ...createBody(scratch.next(), i), row: i % 1000 }), headers: {} })),
      });
    const b5run = (rate: number, ms: number, measured = true) =>
      measured ? withCpu(steadyCpu.b5, { web: baseWeb, workers: [baseWorker] }, rate, () => b5load(rate, ms), async () => undefined) : b5load(rate, ms);
    // The notification jobs these commands fanned out to run on in the worker: they finish before the next run.
    const settleF3 = () => waitIdle(env, QUEUE_NAMES.notifications, drainTimeout);
    const f3run = (rate: number, ms: number, measured = true) =>
      measured
        ? withCpu(steadyCpu.f3, { web: api.child, workers }, rate, () => f3load(rate, ms), settleF3)
        : f3load(rate, ms).then(async (result) => (await settleF3(), result));
    const f3load = (rate: number, ms: number) =>
      loadClient.run({
        url: api.base,
        rate,
        durationMs: ms,
        watch: watchOf(QUEUE_NAMES.commands),
        preferWait: true,
        requests: writeOut(rate, ms, (i) => ({
          path: '/api/v1/booking/bookings',
          body: JSON.stringify(createBody(booked.next(), i)),
          headers: { authorization: `Bearer ${users[i % users.length]!.token}`, 'idempotency-key': `bench-${env.id}-${Date.now()}-${i}` },
        })),
      });
    const steadyRuns: { rate: number; b5: LatencySummary[]; f3: LatencySummary[]; samples: number; waits: number; timeouts: number; stages: { b5: Stages; f3: Stages } }[] = [];
    for (const rate of rates) {
      log(`B5 ↔ figure 3: ${rate} commands/s`);
      const raw = await interleaved<'b5' | 'f3', OpenLoopResult>({
        b5: { run: () => b5run(rate, P.steadyMs), warm: () => b5run(rate, P.warmSteadyMs, false) },
        f3: { run: () => f3run(rate, P.steadyMs), warm: () => f3run(rate, P.warmSteadyMs, false) },
      });
      assertNoFailures(`B5 at ${rate}/s`, raw.b5);
      assertNoFailures(`figure 3 at ${rate}/s`, raw.f3);
      steadyRuns.push({
        rate,
        b5: raw.b5.map(summarize),
        f3: raw.f3.map(summarize),
        samples: raw.f3.reduce((s, r) => s + r.completed.length, 0),
        waits: raw.f3.reduce((s, r) => s + r.waitRoundTrip.length, 0),
        timeouts: raw.f3.reduce((s, r) => s + r.waitTimeouts, 0),
        stages: {
          b5: await stagesOf(env.redis, (id) => jobKey(env.prefix, B5_QUEUE, id), raw.b5.flatMap((r) => r.jobs)),
          f3: await stagesOf(env.redis, (id) => jobKey(env.prefix, QUEUE_NAMES.commands, id), raw.f3.flatMap((r) => r.jobs)),
        },
      });
    }

    // ---- B3 ↔ figure 4: reads ----
    // The API with the cache off starts only now: idle, it would still take its share of the machine in figures 1–3
    // (any web process wakes for the commands it does not serve: the signals of finished commands).
    const apiNoCache = CACHE_SWITCH ? await startApi(env, 'web-nocache', { CACHE_ENABLED: 'false' }, profArgs('web-nocache')) : undefined;
    log(`B3 ↔ figure 4: reads${apiNoCache ? ' (cache on and off)' : ''}`);
    const readSet = created.slice(0, P.readSet);
    const targets = [{ label: CACHE_SWITCH ? 'cached' : '', base: api.base }, ...(apiNoCache ? [{ label: 'uncached', base: apiNoCache.base }] : [])];
    const readContenders: Record<string, { run: () => Promise<LoadResult>; warm: () => Promise<unknown> }> = {
      b3: { run: () => rawHttp(loadClient, baseUrl, CONNECTIONS, P.loadS), warm: () => rawHttp(loadClient, baseUrl, CONNECTIONS, P.warmS) },
      b6: { run: () => rawCachedRead(loadClient, baseUrl, CONNECTIONS, P.loadS), warm: () => rawCachedRead(loadClient, baseUrl, CONNECTIONS, P.warmS) },
    };
    for (const t of targets) {
      readContenders[`detail ${t.label}`] = {
        run: () => detailRead(loadClient, t.base, users, readSet, CONNECTIONS, P.loadS),
        warm: () => detailRead(loadClient, t.base, users, readSet, CONNECTIONS, P.warmS),
      };
      readContenders[`list ${t.label}`] = { run: () => listRead(loadClient, t.base, users, CONNECTIONS, P.loadS), warm: () => listRead(loadClient, t.base, users, CONNECTIONS, P.warmS) };
    }
    for (const t of targets) await readEach(t.base, users, readSet);
    const cacheBefore = await cacheCounters(api.base);
    const f4raw = await interleaved(readContenders);
    const hits = hitRatios(cacheBefore, await cacheCounters(api.base));
    for (const [k, runs] of Object.entries(f4raw)) assertClean(k, runs);
    const [b3, b6] = [lat(f4raw.b3!), lat(f4raw.b6!)];

    // ---- B3 ↔ figure 4 at a light steady load: at 50 connections latency is Little's law (50 ÷ throughput) ----
    // READ_RATE/s open loop, or a quarter of the 50-connection detail throughput when that is less: a light load.
    const detail = targets[0]!;
    const detailRps = lat(f4raw[`detail ${detail.label}`]!).rps.median;
    const readRate = Math.min(READ_RATE, Math.max(10, Math.floor(detailRps / 4 / 10) * 10));
    log(`B3, B6 ↔ figure 4: detail and list reads at ${readRate}/s, open loop`);
    const steadyRead = (url: string, request: (i: number) => Omit<OpenLoopRequest, 'method'>) => (ms: number) =>
      loadClient.run({ url, rate: readRate, durationMs: ms, requests: writeOut(readRate, ms, (i) => ({ method: 'GET', ...request(i) })) });
    const b3steady = steadyRead(baseUrl, () => ({ path: '/static', headers: {} }));
    // B6 beside it: any read served from Redis waits on Redis, and its tail is the machine's too (DAMON, stalls).
    const b6steady = steadyRead(baseUrl, () => ({ path: '/cached', headers: {} }));
    const f4steady = steadyRead(detail.base, (i) => ownBooking(users, readSet, i));
    const f4listSteady = steadyRead(detail.base, (i) => ownList(users[i % users.length]!));
    // Redis's own latency monitor over each measured run of the reads served from Redis (bench/redis-stalls.ts).
    const redisStalls = await RedisStalls.start(env.redis);
    const stalls: Record<'b6' | 'f4' | 'f4list', Stalls[]> = { b6: [], f4: [], f4list: [] };
    // And the cache's hit ratio over each measured run of ours (its keyspace's cache_requests_total on the API).
    const lightHits: Record<'f4' | 'f4list', number[]> = { f4: [], f4list: [] };
    const keyspaceOf = { f4: 'booking', f4list: 'bookings' } as const;
    // The kernel's memory monitor over each measured run of all four (bench/kernel-bursts.ts): which requests were in
    // flight while it held a core.
    const kernel = KernelMonitorBursts.find();
    const bursts: Record<'b3' | 'b6' | 'f4' | 'f4list', BurstEffect[]> = { b3: [], b6: [], f4: [], f4list: [] };
    const withBursts = (k: keyof typeof bursts, run: () => Promise<OpenLoopResult>) => async () => {
      if (!kernel) return run();
      const { result, bursts: seen } = await kernel.around(run);
      bursts[k].push(burstEffect(result.completed, result.answeredAtMs, seen, P.steadyMs));
      return result;
    };
    const watched = (k: keyof typeof stalls, run: () => Promise<OpenLoopResult>) => async () => {
      const ours = k === 'b6' ? undefined : k;
      const before = ours && (await cacheCounters(api.base));
      const { result, stalls: s } = redisStalls ? await redisStalls.around(withBursts(k, run)) : { result: await withBursts(k, run)(), stalls: undefined };
      if (s) stalls[k].push(s);
      if (ours && before) lightHits[ours].push(hitRatio(before, await cacheCounters(api.base), keyspaceOf[ours]));
      return result;
    };
    // The monitor's threshold is put back on a failed run too: the Redis may be shared.
    const lightRaw = await interleaved<'b3' | 'b6' | 'f4' | 'f4list', OpenLoopResult>({
      b3: { run: withBursts('b3', () => b3steady(P.steadyMs)), warm: () => b3steady(P.warmSteadyMs) },
      b6: { run: watched('b6', () => b6steady(P.steadyMs)), warm: () => b6steady(P.warmSteadyMs) },
      f4: { run: watched('f4', () => f4steady(P.steadyMs)), warm: () => f4steady(P.warmSteadyMs) },
      f4list: { run: watched('f4list', () => f4listSteady(P.steadyMs)), warm: () => f4listSteady(P.warmSteadyMs) },
    }).finally(() => redisStalls?.stop());
    for (const [k, runs] of Object.entries(lightRaw)) assertNoFailures(`${k} at ${readRate}/s`, runs);
    const light4 = {
      b3: lightRaw.b3.map(summarize),
      b6: lightRaw.b6.map(summarize),
      detail: lightRaw.f4.map(summarize),
      list: lightRaw.f4list.map(summarize),
      samples: lightRaw.f4[0]!.completed.length,
    };

    // ---- figure 4 under writes: the cached detail reads with a separate writer, interleaved with the reads alone ----
    // Last, as the writes change bookings. At WRITE_RATE/s, or figure 3's light rate when the worker sustains less
    // (a backlog would apply the writes after the reads). The commands queue was paused only for figure 2.
    let mixed: { rate: number; alone: MixedRun[]; writes: MixedRun[] } | undefined;
    if (CACHE_SWITCH) {
      const writeRate = Math.min(WRITE_RATE, light);
      log(`figure 4 under writes: detail reads with ${writeRate} writes/s`);
      for (const w of workers) w.assertAlive();
      await cq.queue.resume();
      // The writer runs here, beside the 50-connection reads (autocannon, in this process): its completions are
      // counted, not timed.
      const writes = new CompletionWatch(QUEUE_NAMES.commands, env.redisUrl, env.prefix);
      await writes.ready();
      const run = (rate: number, s: number) =>
        detailReadWithWrites({ api: api.base, workers: workerProcs.map((w) => w.health), users, bookings: readSet, connections: CONNECTIONS, durationS: s, writeRate: rate, watch: writes, client: loadClient });
      const raw = await interleaved<'alone' | 'writes', MixedRun>({
        alone: { run: () => run(0, P.loadS), warm: () => run(0, P.warmS) },
        writes: { run: () => run(writeRate, P.loadS), warm: () => run(writeRate, P.warmS) },
      }).finally(() => writes.close());
      for (const [k, runs] of Object.entries(raw)) assertClean(`figure 4 reads (${k})`, runs.map((r) => r.reads));
      mixed = { rate: writeRate, ...raw };
    }
    const apiPeakEnd = api.child.rss().peak;
    const baseWebPeak = baseWeb.rss().peak;
    const baseWorkerPeak = baseWorker.rss().peak;

    // ---- the table ----
    const ms = (s: Stat) => fmt(s, 'ms', 1);
    const rps = (s: Stat) => fmt(s, 'req/s');
    const pick = (xs: LatencySummary[], k: keyof LatencySummary) => stat(xs.map((x) => x[k]));
    const stagesLabel = (s: Stages) =>
      `API ${percentile(s.api, 50).toFixed(1)} · waiting ${percentile(s.waiting, 50).toFixed(1)} · worker ${percentile(s.worker, 50).toFixed(1)} · event ${percentile(s.event, 50).toFixed(1)} ms`;
    const steadyRow = (st: (typeof steadyRuns)[number], k: keyof LatencySummary, label: string, target: number, extra = ''): Row => {
      const ours = pick(st.f3, k);
      const base = pick(st.b5, k);
      return {
        figure: `3. ${label} at ${st.rate}/s`,
        value: ms(ours),
        baseline: `B5 ${ms(base)}`,
        ratio: ratio(ours.median, base.median),
        note: `${check(ours.median < target, `< ${target} ms`)}${extra}`,
      };
    };
    const rows: Row[] = [
      { figure: 'B1 raw queue', value: fmt(b1, 'jobs/s'), baseline: '—', ratio: '—', note: `no-op jobs; ${P.rawJobs} added with addBulk, then 1 Worker × ${BASELINE_CONCURRENCY}` },
      { figure: 'B2 queue + one transaction', value: fmt(b2, 'jobs/s'), baseline: `B1 ${fmt(b1, 'jobs/s')}`, ratio: ratio(b2.median, b1.median), note: `each job BEGIN; UPDATE one row; COMMIT (pg); worker CPU ${fmt(stat(b2cpu), 'ms', 2)} per job` },
      { figure: 'B3 raw HTTP', value: rps(b3.rps), baseline: '—', ratio: '—', note: `bare Hono, static JSON; p50 ${ms(b3.p50)}, p99 ${ms(b3.p99)}` },
      { figure: 'B6 raw cached read over HTTP', value: rps(b6.rps), baseline: `B3 ${rps(b3.rps)}`, ratio: ratio(b6.rps.median, b3.rps.median), note: `bare Hono, one Redis GET of B3's document, sent as is: the ceiling of any read served from Redis; p50 ${ms(b6.p50)}, p99 ${ms(b6.p99)}` },
      {
        figure: 'B7 one round trip',
        value: `Postgres ${fmt(stat(b7runs.map((b) => b.pg.cpuUs)), 'µs')} CPU, ${fmt(stat(b7runs.map((b) => b.pg.wallUs)), 'µs')} wall`,
        baseline: `Redis PING ${fmt(stat(b7runs.map((b) => b.redis.cpuUs)), 'µs')} CPU, ${fmt(stat(b7runs.map((b) => b.redis.wallUs)), 'µs')} wall`,
        ratio: '—',
        note: "lone round trips one after the other from the bench process (a parameterized select on one connection; PING): the caller's CPU and the wall time per round trip, the unit a command's cost is made of at a light load",
      },
      { figure: 'B4 raw enqueue over HTTP', value: rps(b4.rps), baseline: `B3 ${rps(b3.rps)}`, ratio: ratio(b4.rps.median, b3.rps.median), note: `bare Hono, one queue.add; p50 ${ms(b4.p50)}, p99 ${ms(b4.p99)}; its CPU ${fmt(b4cpu, 'µs')} per request` },
      ...steadyRuns.map((st) => ({
        figure: `B5 raw command round trip at ${st.rate}/s`,
        value: `p50 ${ms(pick(st.b5, 'p50'))}, p99 ${ms(pick(st.b5, 'p99'))}`,
        baseline: '—',
        ratio: '—',
        note: `bare route → bare worker process (one transaction); Prefer: wait p50 ${ms(pick(st.b5, 'waitP50'))}, p99 ${ms(pick(st.b5, 'waitP99'))}`,
      })),
      {
        figure: '1. Command throughput',
        value: fmt(f1, 'commands/s'),
        baseline: `B2 ${fmt(b2, 'jobs/s')}`,
        ratio: ratio(f1.median, b2.median),
        note:
          `${check(f1.median >= 0.5 * b2.median, '≥ 0.5×')}; ${P.commands} creates per run, ${workerCount} worker process × ${serviceDefaults.commandConcurrency}${serviceDefaults.commandGroupMax ? `, creates committed in groups of up to ${serviceDefaults.commandGroupMax}` : ''}; ` +
          `every booking row verified; worker CPU ${fmt(stat(f1cpu), 'ms', 1)} per command incl. its notification jobs`,
      },
      { figure: '2. HTTP enqueue', value: rps(f2.rps), baseline: `B4 ${rps(b4.rps)}`, ratio: ratio(f2.rps.median, b4.rps.median), note: `${check(f2.rps.median >= 0.5 * b4.rps.median, '≥ 0.5×')}; JWT + Idempotency-Key, ${CONNECTIONS} connections` },
      { figure: '2. HTTP enqueue: API CPU per request', value: fmt(f2cpu, 'µs'), baseline: `B4 ${fmt(b4cpu, 'µs')}`, ratio: ratio(f2cpu.median, b4cpu.median), note: 'the server process\'s CPU (/proc/<pid>/stat) per 202 over each measured run; the machine\'s speed moves both sides alike' },
      { figure: '2. HTTP enqueue p50', value: ms(f2.p50), baseline: `B4 ${ms(b4.p50)}`, ratio: ratio(f2.p50.median, b4.p50.median) },
      { figure: '2. HTTP enqueue p99', value: ms(f2.p99), baseline: `B4 ${ms(b4.p99)}`, ratio: ratio(f2.p99.median, b4.p99.median), note: check(f2.p99.median < 15, '< 15 ms') },
      ...steadyRuns.flatMap((st) => {
        const queued = st.rate > 0.5 * f1.median ? `; offered ${st.rate}/s vs ${num(f1.median)}/s sustained in figure 1: mostly queueing` : '';
        const timeouts = st.timeouts ? `; ${st.timeouts} of ${st.waits} answered 202 (not done within 5 s)` : '';
        const [cpu, b5cpu] = [steadyCpu.f3.get(st.rate) ?? [], steadyCpu.b5.get(st.rate) ?? []];
        const machineOf = (runs: CpuSplit[]) => stat(runs.map((c) => c.machine));
        const part = (runs: CpuSplit[], k: 'redis' | 'postgres' | 'bench', label: string) =>
          runs.some((c) => c[k] > 0) ? `, ${label} ${fmt(stat(runs.map((c) => c[k])), 'ms', 2)}` : '';
        const split = (runs: CpuSplit[], web: string, worker: string) =>
          `${web} ${fmt(stat(runs.map((c) => c.web)), 'ms', 2)}, ${worker} ${fmt(stat(runs.map((c) => c.worker)), 'ms', 2)}` +
          `${part(runs, 'redis', 'Redis')}${part(runs, 'postgres', 'Postgres')}${part(runs, 'bench', 'the bench')}`;
        const cpuRow: Row = {
          figure: `3. CPU per command at ${st.rate}/s, the whole machine`,
          value: fmt(machineOf(cpu), 'ms', 1),
          baseline: `B5 ${fmt(machineOf(b5cpu), 'ms', 1)}`,
          ratio: ratio(machineOf(cpu).median, machineOf(b5cpu).median),
          note:
            `every process's CPU (/proc) over each measured run ÷ commands sent; ours: ${split(cpu, 'API', 'worker (its notification jobs included)')}; ` +
            `B5: ${split(b5cpu, 'bare web', 'bare worker')}; the bench = its load client (open loop, QueueEvents) and itself; ` +
            `the machine's share includes the other side's idle processes; the ${os.cpus().length} cores give ${num((os.cpus().length * 1000) / st.rate, 1)} ms per command at ${st.rate}/s: past it, commands queue`,
        };
        return [
          steadyRow(st, 'p50', 'POST → job completed p50', 15, `; open loop, ${st.samples} commands${queued}; its CPU per command: row "3. CPU per command at ${st.rate}/s"`),
          steadyRow(st, 'p99', 'POST → job completed p99', 60),
          steadyRow(st, 'waitP50', 'Prefer: wait=5 round trip p50', 15, `; every other request${timeouts}`),
          steadyRow(st, 'waitP99', 'Prefer: wait=5 round trip p99', 60),
          {
            figure: `3. where the time goes at ${st.rate}/s (p50 per stage)`,
            value: stagesLabel(st.stages.f3),
            baseline: `B5 ${stagesLabel(st.stages.b5)}`,
            ratio: '—',
            note: "from each job's own timestamps (added, taken, finished) against the bench's send and QueueEvents times, every run pooled: API = sent → added, waiting = added → taken by a worker, worker = taken → finished, event = finished → seen",
          },
          cpuRow,
        ];
      }),
    ];
    const p50p99 = (x: { p50: Stat; p99: Stat }) => `${ms(x.p50)} / ${ms(x.p99)}`;
    const runSeconds = Math.max(1, Math.ceil(P.steadyMs / 1000));
    const stallStat = (xs: Stalls[]) =>
      `${fmt(stat(xs.map((x) => x.seconds)), `of ${runSeconds} s`, 0)}, worst ${fmt(stat(xs.map((x) => x.worstMs)), 'ms', 0)}`;
    const hitNote4 = (ratios: number[]) => (ratios.some(Number.isFinite) ? `; cache hit ratio ${fmt(stat(ratios.filter(Number.isFinite)), '%', 1)}` : '');
    // Redis off the CPU mid-command delays every request waiting on it: a tail shared by B6, not made by the API.
    const stallNote = (ours: Stalls[], b6runs: Stalls[]) =>
      ours.length && redisStalls
        ? `; Redis itself took ≥ ${redisStalls.thresholdMs} ms over one command (its latency monitor) in ${stallStat(ours)}; during B6's runs in ${stallStat(b6runs)}`
        : '';
    // The kernel's memory monitor holding a core delays whatever is in flight then: the tail it makes, and the p99 without it.
    const burstStat = (xs: BurstEffect[], k: keyof BurstEffect, unit: string, digits: number) => fmt(stat(xs.map((x) => x[k])), unit, digits);
    const burstNote = (ours: BurstEffect[]) =>
      ours.length
        ? `; the kernel's DAMON thread (kdamond) was on a CPU ${burstStat(ours, 'perSecond', '×/s', 1)}, ${burstStat(ours, 'medianCpuMs', 'ms', 1)} each (median): ` +
          `${burstStat(ours, 'tailShare', '%', 0)} of the requests slower than the p99 were in flight during one (${burstStat(ours, 'inFlightShare', '%', 1)} of all); ` +
          `p99 of the others ${burstStat(ours, 'p99Outside', 'ms', 1)} (B3 ${burstStat(bursts.b3, 'p99Outside', 'ms', 1)}, B6 ${burstStat(bursts.b6, 'p99Outside', 'ms', 1)})`
        : '';
    for (const t of targets) {
      const tag = t.label ? ` (${t.label})` : '';
      for (const [kind, what] of [['detail', `GET /booking/bookings/:id over ${readSet.length} bookings`], ['list', `GET /booking/bookings, first page, ${users.length} members`]] as const) {
        const x = lat(f4raw[`${kind} ${t.label}`]!);
        // The p99 half of the target is judged at the light load (the row at readRate/s): at 50 connections latency is
        // Little's law (50 ÷ throughput), so p99 < 5 ms there would need more than B3's own throughput on this machine.
        const target = t.label === 'uncached' ? '' : `${check(x.rps.median >= 0.4 * b3.rps.median, '≥ 0.4× B3')} (its p99 < 5 ms: the row at ${readRate}/s); `;
        const hitNote = t.label === 'cached' && hits && kind === 'detail' ? `; every booking and list page of the set read once before (untimed); cache hit ratio of the timed warm-up and runs: ${hits}` : '';
        const ceiling = t.label === 'uncached' ? '' : `; ${ratio(x.rps.median, b6.rps.median)} B6`;
        rows.push(
          { figure: `4. ${kind} read${tag}`, value: rps(x.rps), baseline: `B3 ${rps(b3.rps)}`, ratio: ratio(x.rps.median, b3.rps.median), note: `${target}${what}${ceiling}${hitNote}` },
          { figure: `4. ${kind} read${tag} p50 / p99`, value: p50p99(x), baseline: `B3 ${p50p99(b3)}`, ratio: ratio(x.p99.median, b3.p99.median), note: 'ratio of the p99s' },
        );
        if (t !== detail) continue;
        const at = (runs: LatencySummary[]) => ({ p50: pick(runs, 'p50'), p99: pick(runs, 'p99') });
        const [l, lb, l6] = [at(light4[kind]), at(light4.b3), at(light4.b6)];
        const lightKey = kind === 'detail' ? 'f4' : 'f4list';
        rows.push({
          figure: `4. ${kind} read${tag} p50 / p99 at ${readRate}/s`,
          value: p50p99(l),
          baseline: `B3 at ${readRate}/s ${p50p99(lb)}`,
          ratio: ratio(l.p99.median, lb.p99.median),
          note:
            `${check(l.p99.median < 5, 'p99 < 5 ms')}; open loop (requests leave on schedule), the same reads, ${light4.samples} per run; send → last byte by performance.now() in the load client (a process of its own); B6 at ${readRate}/s ${p50p99(l6)}` +
            hitNote4(lightHits[lightKey]) +
            stallNote(stalls[lightKey], stalls.b6) +
            burstNote(bursts[lightKey]),
        });
        if (kind !== 'detail' || !mixed) continue;
        const [alone, withWrites] = [lat(mixed.alone.map((r) => r.reads)), lat(mixed.writes.map((r) => r.reads))];
        const hit = (runs: MixedRun[]) => fmt(stat(runs.map((r) => r.hitRatio)), '%', 1);
        rows.push(
          {
            figure: `4. ${kind} read${tag} + writes`,
            value: rps(withWrites.rps),
            baseline: `reads alone ${rps(alone.rps)}`,
            ratio: ratio(withWrites.rps.median, alone.rps.median),
            note:
              `the same reads while a separate open-loop client PATCHes the notes of random bookings of the set as their owners at ${mixed.rate}/s ` +
              `(${num(stat(mixed.writes.map((r) => r.writesSent)).median, 0)} per run, each 202 and its job completed and evicted, by the workers' cache_evictions_total): ` +
              `${fmt(stat(mixed.writes.map((r) => r.writesApplied)), 'writes/s')} applied during the reads`,
          },
          { figure: `4. ${kind} read${tag} + writes p50 / p99`, value: p50p99(withWrites), baseline: `reads alone ${p50p99(alone)}`, ratio: ratio(withWrites.p99.median, alone.p99.median), note: 'ratio of the p99s' },
          {
            figure: `4. ${kind} read${tag} + writes: hit ratio`,
            value: hit(mixed.writes),
            baseline: `reads alone ${hit(mixed.alone)}`,
            ratio: ratio(stat(mixed.writes.map((r) => r.hitRatio)).median, stat(mixed.alone.map((r) => r.hitRatio)).median),
            note: 'booking keyspace of cache_requests_total on the API, per run (warm-up excluded); the reads alone miss only what the last writes of the run before evicted after its reads',
          },
        );
      }
    }
    const mb = (n: number) => `${Math.round(n)} MB`;
    rows.push(
      { figure: '5. API peak RSS, figure 2', value: mb(apiPeakF2), baseline: `bare web ${mb(baseWebPeak)}`, ratio: ratio(apiPeakF2, baseWebPeak), note: `${check(apiPeakF2 < 250, '< 250 MB')}; VmHWM; ${mb(idle.api)} at start, peak ${mb(apiPeakEnd)} after figures 3–4; node ${flagLabel(NODE_FLAGS.web)}` },
      { figure: '5. worker peak RSS, figure 1', value: mb(workerPeak), baseline: `bare worker ${mb(baseWorkerPeak)}`, ratio: ratio(workerPeak, baseWorkerPeak), note: `${check(workerPeak < 250, '< 250 MB')}; VmHWM; ${mb(idle.worker)} at start; node ${flagLabel(NODE_FLAGS.worker)}` },
    );

    await stopAllChildren();
    await cq.close();

    // ---- follow-ups (another module owns these rows; it sets up and cleans up its own database and prefix) ----
    const followUps = new URL('./follow-ups.bench.ts', import.meta.url);
    if (existsSync(followUps)) {
      log('follow-ups');
      try {
        const mod = (await import(pathToFileURL(followUps.pathname).href)) as { benchFollowUps?: (o: { quick: boolean }) => Promise<Row[]> };
        if (typeof mod.benchFollowUps !== 'function') throw new Error('bench/follow-ups.bench.ts exports no benchFollowUps');
        rows.push(...(await mod.benchFollowUps({ quick })));
      } catch (e) {
        rows.push({ figure: 'follow-ups', value: 'failed', baseline: '—', ratio: '—', note: String(e).slice(0, 300) });
      }
    }

    const cpu = os.cpus();
    const reclaim = kernelReclaimLabel();
    const header = [
      `Benchmark (${quick ? 'quick' : 'full'}) — ${started.toISOString()}, took ${Math.round((Date.now() - started.getTime()) / 1000)} s`,
      `Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, load average ${load0.toFixed(2)} at start; ` +
        `Node ${process.version}; PostgreSQL ${versions.postgres}; Redis ${versions.redis}; ${runtimeLabel()}; ` +
        `node flags from the Procfile: web ${flagLabel(NODE_FLAGS.web)}, worker ${flagLabel(NODE_FLAGS.worker)}` +
        (reclaim ? `; ${reclaim}` : ''),
      `Each figure: median of ${P.runs} runs interleaved with its baseline's, after a warm-up (min–max in brackets). ` +
        'Ratio = ours ÷ baseline (for latency and memory, lower is better).',
    ];
    for (const d of nodeFlagDrift()) header.push(`WARNING: ${d}: production does not run what the bench measures.`);
    if (profile) header.push('PROFILED RUN (web and worker under --cpu-prof): figures are slower than in a normal run; hot spots follow.');
    process.stdout.write(`\n${header.join('\n')}\n\n${renderTable(rows)}\n`);
    for (const [name, dir] of profiled) {
      // The main thread's profile (thread id 0); tsx's loader thread writes another one.
      for (const f of readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))) {
        process.stdout.write(`\n## ${name}`);
        printProfile(join(dir, f), 30);
      }
    }
  } catch (e) {
    log(`children's last output:\n${childTails()}`);
    throw e;
  } finally {
    await stopAllChildren();
    removeChildLogs();
    removeBuild();
    if (profileDir && !keepProfiles) rmSync(profileDir, { recursive: true, force: true });
    await env.cleanup();
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await stopAllChildren().catch(() => undefined);
    process.exit(1);
  },
);
