import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from './config.js';

export type { Logger };

/**
 * What every log line written while serving one request (`requestId`) or running one job (`jobId`, `jobName`,
 * `queue`) carries, however deep the code that logs: set by the request middleware and the job wrapper, added to
 * each line by the logger's mixin. No logger needs to be passed down for it.
 */
export type LogContext = Record<string, string | undefined>;
const logContext = new AsyncLocalStorage<LogContext>();

/** Runs fn with these fields on every line it logs (nested contexts add to the outer one). */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return logContext.run({ ...logContext.getStore(), ...fields }, fn);
}

/**
 * JSON logs; credentials never reach them. `destination` is for tests that read what was logged (default stdout).
 */
export function createLogger(config: Pick<AppConfig, 'logLevel'>, component: string, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { component },
    mixin: () => logContext.getStore() ?? {},
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', '*.password', '*.token'], censor: '[redacted]' },
  };
  // Stdout is written asynchronously (sonic-boom on libuv's thread pool): a synchronous write per line was a
  // measured hot spot of the API. Lines written while a write is in flight leave together with it; pino flushes
  // what is pending on exit (process.exit included); only a SIGKILL can lose the last lines.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
