import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { until } from '../../helpers/follow-ups.js';
import { spawnEntrypoint } from '../../helpers/entrypoints.js';

/** Child processes of the fault suite: the real worker and scheduler entrypoints, and throwaway Redis servers. */

export interface ServiceProcess {
  child: ChildProcess;
  /** Resolves with the health port once the process has fully started (its health server starts last). */
  ready: () => Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Log lines (parsed) whose `msg` matches, for diagnostics. */
  warnings: Record<string, unknown>[];
  stderr: () => string;
  alive: () => boolean;
}

/**
 * Spawns `workers/worker.ts` (or another entrypoint) through tsx, as the Procfile runs it, with the given env on top
 * of the test defaults. Only the start line and warnings/errors are kept from its log (a loaded worker logs a lot).
 */
export function spawnService(entry: 'workers/worker.ts' | 'workers/scheduler.ts', env: Record<string, string>): ServiceProcess {
  let healthPort: number | undefined;
  const warnings: Record<string, unknown>[] = [];
  const { child, exited, stderr } = spawnEntrypoint(entry, env, (p) => {
    // Cheap filters first: most lines are job and email logs at info.
    if (healthPort === undefined && p.includes('"healthPort"')) {
      try {
        healthPort = JSON.parse(p).healthPort;
      } catch {
        /* not JSON */
      }
    }
    if (p.includes('"level":40') || p.includes('"level":50') || p.includes('"level":60')) {
      try {
        if (warnings.length < 500) warnings.push(JSON.parse(p));
      } catch {
        /* not JSON */
      }
    }
  });
  return {
    child,
    exited,
    warnings,
    stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    ready: () => until(`${entry} to start (stderr: ${stderr().slice(-500)})`, () => healthPort, 60_000, 50),
  };
}

/** Stops a child: SIGTERM and wait (graceful), or SIGKILL if it does not exit. */
export async function stopService(p: ServiceProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p.alive()) return;
  p.child.kill(signal);
  const timer = setTimeout(() => p.alive() && p.child.kill('SIGKILL'), 30_000);
  await p.exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisServer {
  port: number;
  url: string;
  /** Starts (or restarts) redis-server on the same port and data directory, unless it runs; resolves once it answers PING. */
  start: () => Promise<void>;
  /** SIGKILL (a crash) or SIGTERM (a clean shutdown, which fsyncs the append-only file); resolves once it exited. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
  /** Stops it for good and removes its data directory. */
  destroy: () => Promise<void>;
}

/**
 * A throwaway redis-server on its own port, persisted as a production queue Redis should be: append-only file with
 * `appendfsync always` (a job the API acknowledged survives a crash), `noeviction`, no RDB snapshots.
 */
export async function throwawayRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cw-redis-'));
  let proc: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const ping = async () => {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (proc && proc.exitCode === null && proc.signalCode === null) return;
      proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'],
        { stdio: 'ignore' },
      );
      exited = new Promise((resolve) => proc!.once('exit', resolve));
      await until(`redis-server on port ${port} to answer`, ping, 20_000, 50);
    },
    async stop(signal = 'SIGKILL') {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
    async destroy() {
      await server.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
