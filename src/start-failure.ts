import { ConfigError, loadConfig, type AppConfig } from './config.js';
import { isDatabaseUnavailable, pgCode } from './db/pg-errors.js';
import type { Logger } from './logger.js';

/** The URL with its password masked, fit for a log line. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

type Settings = Pick<AppConfig, 'db' | 'http' | 'health'>;

/**
 * Why a process could not start, as one line naming the setting to look at, for the failures a person starting the
 * service meets (a Postgres not running, a missing database, a port in use); undefined for anything else, which is
 * reported with its stack.
 */
export function startFailureMessage(err: unknown, settings: Settings): string | undefined {
  const e = err as { code?: unknown; message?: unknown; port?: unknown; address?: unknown; setting?: unknown };
  const detail = String(e?.message ?? err);
  if (e?.code === 'EADDRINUSE') {
    // Named by the server that could not listen (src/api/http-server.ts); else guessed from the port.
    const setting = typeof e.setting === 'string' ? e.setting : e.port === settings.health.port && e.port !== settings.http.port ? 'HEALTH_PORT' : 'PORT';
    return `Cannot listen on ${String(e.address)}:${String(e.port)}: the port is in use (${setting})`;
  }
  const db = withoutPassword(settings.db.url);
  const code = pgCode(err);
  if (code === '3D000') return `The database of DATABASE_URL (${db}) does not exist: the release step creates it (\`npm run migrate\`, from a build \`node dist/src/db/migrate.js\`; \`npm start\` runs it too)`;
  if (code === '28P01' || code === '28000') return `PostgreSQL refused the login of DATABASE_URL (${db}): ${detail}`;
  if (isDatabaseUnavailable(err)) return `Cannot reach PostgreSQL at ${db} (DATABASE_URL): ${detail}`;
  return undefined;
}

/** loadConfig, or, for a bad environment, its message (every offending variable) on stderr and exit 1. */
export function loadConfigOrExit(): AppConfig {
  try {
    return loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  }
}

/**
 * Runs a process's start; if it throws, logs why as a fatal line (naming the setting, when startFailureMessage
 * knows it) and exits 1, rather than dying on an unhandled rejection's stack trace.
 */
export async function startOrExit<T>(settings: Settings, logger: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const message = startFailureMessage(err, settings);
    if (message) logger.fatal({ cause: { code: (err as { code?: unknown }).code, message: String((err as Error)?.message ?? err) } }, message);
    else logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
}
