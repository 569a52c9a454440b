import { pino, type Logger } from 'pino';
import type { AppConfig } from './config.js';

export type { Logger };

/** JSON logs; credentials never reach them. */
export function createLogger(config: Pick<AppConfig, 'logLevel'>, component: string): Logger {
  return pino({
    level: config.logLevel,
    base: { component },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', '*.password', '*.token'], censor: '[redacted]' },
  });
}
