import { DefaultLogger, type LogContext, type LoggerNamespace, type LoggerOptions } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';

/**
 * MikroORM's logger writing through the process's pino logger, so what MikroORM prints (the migrator's
 * "Processing"/"Applied" lines, deprecations, queries when debugging) is a JSON line like every other, not plain
 * coloured text on stdout. What is enabled stays MikroORM's decision (its `debug` option).
 */
export class PinoOrmLogger extends DefaultLogger {
  constructor(
    options: LoggerOptions,
    private readonly logger: Logger,
  ) {
    super(options);
  }

  override log(namespace: LoggerNamespace | string, message: string, context?: LogContext): void {
    if (!this.isEnabled(namespace as LoggerNamespace, context)) return;
    const fields = { orm: namespace, ...(context?.label ? { label: context.label } : {}) };
    const text = message.replace(/\n/g, '').replace(/ +/g, ' ').trim();
    if (context?.level === 'error') this.logger.error(fields, text);
    else if (context?.level === 'warning') this.logger.warn(fields, text);
    else this.logger.info(fields, text);
  }
}

/**
 * knex's logger (under MikroORM's SQL drivers) to pino: it prints a pooled connection's failure ("Connection Error:
 * …", e.g. when Postgres ends a backend) with console.warn otherwise.
 */
export function knexLog(logger: Logger) {
  const text = (message: unknown) => (typeof message === 'string' ? message : String((message as Error)?.message ?? message));
  return {
    warn: (m: unknown) => logger.warn({ orm: 'knex' }, text(m)),
    error: (m: unknown) => logger.error({ orm: 'knex' }, text(m)),
    deprecate: (m: unknown) => logger.warn({ orm: 'knex' }, text(m)),
    debug: (m: unknown) => logger.debug({ orm: 'knex' }, text(m)),
  };
}
