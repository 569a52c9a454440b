import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_JWT_SECRET } from './stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SpawnedEntrypoint {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last 4000 characters it wrote to stderr. */
  stderr: () => string;
}

/**
 * Runs a process entrypoint (`workers/worker.ts`, `workers/scheduler.ts`) through tsx, as the Procfile runs it, with
 * the test defaults (health server on a free port, info logs) under the given env. Each complete stdout line (JSON
 * logs) goes to `onLine`.
 */
export function spawnEntrypoint(entry: string, env: Record<string, string>, onLine: (line: string) => void): SpawnedEntrypoint {
  return spawnCommand(process.execPath, ['--import', 'tsx', entry], env, onLine);
}

/** As spawnEntrypoint, any command from the repository's root (`npm run start:web`, as the README starts it). */
export function spawnCommand(file: string, args: string[], env: Record<string, string>, onLine: (line: string) => void): SpawnedEntrypoint {
  const child = spawn(file, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'info',
      HEALTH_PORT: '0',
      HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}
