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
  return destination ? pino(options, destination) : pino(options);
}
