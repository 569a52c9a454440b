/**
 * Plumbing for the bench: child processes (the real web/worker entrypoints), their memory, autocannon runs.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Peak (VmHWM) and current (VmRSS) resident set of a process, in MB; NaN when /proc is unavailable. */
export function rssMb(pid: number): { peak: number; current: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
    return { peak: kb('VmHWM') / 1024, current: kb('VmRSS') / 1024 };
  } catch {
    return { peak: NaN, current: NaN };
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a `/proc/<pid>/stat` line, in ms: after "pid (comm) " come field 3 (state) onwards. */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** CPU time (user + system) a process has used so far, in ms; NaN when /proc is unavailable. */
export function cpuMs(pid: number): number {
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

/**
 * CPU time (user + system) used so far by each process named `comm`, in ms by pid (Postgres: the postmaster, its
 * backends and background workers); empty without /proc. Compare two readings with {@link cpuGrowthMs}.
 */
export function processesCpuMs(comm: string): Map<number, number> {
  const byPid = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return byPid;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === comm) byPid.set(Number(entry), statCpuMs(stat));
  }
  return byPid;
}

/**
 * The CPU time the processes of `after` used since `before` (a process started in between counts whole). A process
 * that exited in between takes its time with it: a floor, never less than nothing (the pools here keep theirs open).
 */
export function cpuGrowthMs(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += Math.max(0, ms - (before.get(pid) ?? 0));
  return total;
}

/** CPU time (user + system, every thread) the Redis server has used so far, in ms, from its `INFO cpu`. */
export async function redisCpuMs(redis: { info(section: 'cpu'): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1] ?? NaN);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

/**
 * CPU time the whole machine has spent busy so far (every core; /proc/stat less idle and iowait), in ms; NaN without
 * /proc. Over a run, against the commands it carried, it tells whether the machine itself was the bottleneck.
 */
export function machineBusyMs(): number {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const busy = ticks.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
    return (busy * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * The kernel's DAMON monitors, when any runs (its sysfs interface, Linux ≥ 5.18): proactive reclaim that samples
 * memory access and pages out what looks cold. On the machine these figures were taken on, one sampled all physical
 * memory every 0.5 s, and the light-load reads' slow requests came in bursts at that period (docs/performance-log.md).
 * Named in the table's header so a tail latency can be read against it; undefined when none is on.
 */
export function kernelReclaimLabel(): string | undefined {
  const root = '/sys/kernel/mm/damon/admin/kdamonds';
  const read = (path: string) => {
    try {
      return readFileSync(join(root, path), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const monitors: string[] = [];
  const count = Number(read('nr_kdamonds') ?? 0);
  for (let k = 0; k < count; k++) {
    if (read(`${k}/state`) !== 'on') continue;
    const ops = read(`${k}/contexts/0/operations`) ?? '?';
    const sampleUs = Number(read(`${k}/contexts/0/monitoring_attrs/intervals/sample_us`));
    const actions = Array.from({ length: Number(read(`${k}/contexts/0/schemes/nr_schemes`) ?? 0) }, (_, i) => read(`${k}/contexts/0/schemes/${i}/action`) ?? '?');
    const every = Number.isFinite(sampleUs) ? `sampling every ${sampleUs / 1000} ms` : 'sampling';
    monitors.push(`${ops}, ${every}${actions.length ? `, ${actions.join('/')}` : ''}`);
  }
  return monitors.length ? `kernel DAMON on (${monitors.join('; ')})` : undefined;
}

const live = new Set<Child>();

/**
 * How children run: the compiled tree, as the Procfile runs it (`npm run build` output, here compiled into a
 * temporary directory so the shared dist/ is left alone), or TypeScript through tsx's loader (`--quick`: no build).
 */
let buildDir: string | undefined;

export function runtimeLabel(): string {
  return buildDir ? 'children run compiled JS (tsc into a temporary directory)' : 'children run TypeScript through tsx';
}

/** Compiles the project (src, workers, bench) into a temporary directory; children then run from it. */
export async function useCompiledBuild(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-build-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json'), '--outDir', dir, '--sourceMap', 'false', '--incremental', 'false'], { cwd: ROOT });
    p.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    p.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    p.once('exit', resolve);
  });
  // Type errors still emit JavaScript (others may be mid-edit); what matters is that the entrypoints exist.
  const entries = ['src/web.js', 'workers/worker.js', 'bench/baseline-server.js', 'bench/load-client.js'];
  if (!entries.every((e) => existsSync(join(dir, e)))) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`build failed (tsc exit ${code}):\n${output.join('').slice(-2000)}`);
  }
  if (code !== 0) log(`tsc reported errors (exit ${code}); running what it emitted:\n${output.join('').slice(0, 1000)}`);
  buildDir = dir;
}

export function removeBuild(): void {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  buildDir = undefined;
}

/**
 * The node flags a Procfile process runs with (`web: node --max-old-space-size=512 dist/src/web.js` → the flags
 * between `node` and the script): the bench starts its web and worker children with them, so it measures what
 * production runs. Read from the Procfile, the one place they are written for the bench (README → Processes).
 */
export function procfileNodeArgs(role: 'web' | 'worker' | 'scheduler'): string[] {
  const line = readFileSync(join(ROOT, 'Procfile'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${role}:`));
  const words = line?.slice(role.length + 1).trim().split(/\s+/) ?? [];
  if (words[0] !== 'node') throw new Error(`Procfile: no "${role}: node …" line to take the node flags from`);
  const flags: string[] = [];
  for (const w of words.slice(1)) {
    if (!w.startsWith('-')) break;
    flags.push(w);
  }
  return flags;
}

/**
 * Where the other ways of starting a process (Dockerfile `ENV NODE_OPTIONS`, `npm run start:*`) do not carry the
 * Procfile's flags of that role: one line per difference, for a warning above the bench's table.
 */
export function nodeFlagDrift(): string[] {
  const read = (f: string) => (existsSync(join(ROOT, f)) ? readFileSync(join(ROOT, f), 'utf8') : '');
  const has = (text: string, flags: string[]) => flags.every((f) => text.split(/[\s"']+/).includes(f));
  const scripts = (JSON.parse(read('package.json') || '{}') as { scripts?: Record<string, string> }).scripts ?? {};
  const dockerOptions = read('Dockerfile').match(/NODE_OPTIONS=("[^"]*"|\S+)/)?.[1] ?? '';
  const out: string[] = [];
  for (const role of ['web', 'worker', 'scheduler'] as const) {
    const flags = procfileNodeArgs(role);
    if (!has(dockerOptions, flags)) out.push(`Dockerfile NODE_OPTIONS (${dockerOptions || 'unset'}) lacks the Procfile's ${role} flags ${flags.join(' ')}`);
    if (!has(scripts[`start:${role}`] ?? '', flags)) out.push(`npm run start:${role} lacks the Procfile's flags ${flags.join(' ')}`);
  }
  return out;
}

/** `node [nodeArgs] <compiled entry>` or `node [nodeArgs] --import tsx <entry.ts>`. */
function commandFor(entry: string, nodeArgs: string[]): string[] {
  if (buildDir) return [...nodeArgs, join(buildDir, entry.replace(/\.ts$/, '.js'))];
  return [...nodeArgs, '--import', 'tsx', entry];
}

/**
 * Children write their output straight to a file (no pipe through this process, which is also the load
 * generator). BENCH_CHILD_LOGS=<dir> keeps the files there; otherwise a temporary directory removed at the end.
 */
let logDir: string | undefined;
function childLogDir(): string {
  if (logDir === undefined) {
    const kept = process.env.BENCH_CHILD_LOGS;
    if (kept) mkdirSync(kept, { recursive: true });
    logDir = kept ?? mkdtempSync(join(tmpdir(), 'bench-logs-'));
  }
  return logDir;
}

export function removeChildLogs(): void {
  if (logDir && !process.env.BENCH_CHILD_LOGS) rmSync(logDir, { recursive: true, force: true });
  logDir = undefined;
}

/**
 * A child Node process running an entrypoint of this repository (compiled, or through tsx's loader in the same
 * process: `node --import tsx file.ts`, so the pid is the process doing the work, never a wrapper).
 */
export class Child {
  readonly proc: ChildProcess;
  readonly logFile: string;
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    entry: string,
    env: Record<string, string>,
    nodeArgs: string[] = [],
    /** An IPC channel to the child (`proc.send`, `proc.on('message')`): bench/load-client.ts. */
    ipc = false,
  ) {
    this.logFile = join(childLogDir(), `${name}.log`);
    const fd = openSync(this.logFile, 'w');
    try {
      this.proc = spawn(process.execPath, commandFor(entry, nodeArgs), {
        cwd: ROOT,
        env: { ...process.env, NODE_OPTIONS: '', ...env },
        stdio: ipc ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code) => {
        this.exitCode = code;
        live.delete(this);
        resolve(code);
      }),
    );
    live.add(this);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  rss() {
    return rssMb(this.pid);
  }

  cpuMs() {
    return cpuMs(this.pid);
  }

  /** The last `bytes` of the child's output. */
  tail(bytes = 4000): string {
    try {
      const text = readFileSync(this.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '';
    }
  }

  /** Throws with the child's last output when it died. */
  assertAlive(): void {
    if (!this.alive) throw new Error(`${this.name} exited (${this.exitCode}):\n${this.tail()}`);
  }

  async waitForLine(re: RegExp, timeoutMs = 30_000): Promise<void> {
    await waitUntil(`${this.name}: ${re}`, () => {
      this.assertAlive();
      return re.test(this.tail(1 << 20));
    }, timeoutMs, 50);
  }

  /** SIGTERM (graceful: a --cpu-prof child writes its profile), SIGKILL after the timeout. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.alive && this.proc.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The last lines of every child still running, for a failure report. */
export function childTails(): string {
  return [...live].map((c) => `--- ${c.name} (${c.logFile}) ---\n${c.tail(1500)}`).join('\n');
}

/** Stops every child still running (on the way out, also after a failure). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(5_000)));
}

/** Kills without waiting: for a signal handler. */
export function killAllChildrenNow(): void {
  for (const c of live) if (c.alive) c.proc.kill('SIGKILL');
}

export async function waitForHttp(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  await waitUntil(`${child.name} at ${url}`, async () => {
    child.assertAlive();
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }, timeoutMs, 100);
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
  errors: number;
}

/**
 * One autocannon run. Throughput counts only the expected status (2xx) over the run's duration; latency
 * percentiles are autocannon's (HdrHistogram, millisecond resolution).
 */
export async function load(opts: {
  url: string;
  connections: number;
  durationS: number;
  requests?: autocannon.Request[];
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}): Promise<LoadResult> {
  const res = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationS,
    ...(opts.requests ? { requests: opts.requests } : {}),
    ...(opts.method ? { method: opts.method } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.body ? { body: opts.body } : {}),
  });
  const ok = res['2xx'];
  return {
    rps: ok / res.duration,
    p50: res.latency.p50,
    p99: res.latency.p99,
    ok,
    bad: res.non2xx,
    errors: res.errors,
  };
}

export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
