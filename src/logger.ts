import { pino, type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from './config.js';

export type { Logger };

/** Stdout is written in blocks of at least this many bytes, and at least this often (see createLogger). */
const LOG_BLOCK_BYTES = 4096;
const LOG_FLUSH_MS = 1000;

/**
 * JSON logs; credentials never reach them. Context travels as child loggers, passed to the code that logs: a job's
 * lines carry `jobId` and `jobName` through the logger its processor is given (src/jobs/instrument.ts), a request's
 * lines their `requestId` (src/api/middleware/observe.ts). Not through an AsyncLocalStorage: on Node 20 it installs
 * promise hooks for the whole process, and every promise then paid for them (measured: about a fifth of the API's
 * CPU per request, as much of the worker's). `destination` is for tests that read what was logged (default stdout).
 */
export function createLogger(config: Pick<AppConfig, 'logLevel'>, component: string, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { component },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', '*.password', '*.token'], censor: '[redacted]' },
  };
  // Stdout is written asynchronously (sonic-boom on libuv's thread pool) and in blocks of at least 4 KB, flushed at
  // least every second: a synchronous write per line, and then an asynchronous one per line at a light load (a
  // thread-pool round trip each), were measured hot spots of the API. pino flushes what is pending on exit
  // (process.exit included); only a SIGKILL can lose the last lines (at most about a second of them).
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BLOCK_BYTES, periodicFlush: LOG_FLUSH_MS }));
}
