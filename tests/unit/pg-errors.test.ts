import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/db/pg-errors.js';

/** A driver error as MikroORM hands it on: its own class name, the driver's message and SQLSTATE kept. */
const driverError = (message: string, code?: string) => Object.assign(new Error(message), { name: 'DriverException', ...(code ? { code } : {}) });

describe('isDatabaseUnavailable (503 and a retry, or a fault)', () => {
  it.each([
    ['pg connect timeout, as the socket error', driverError('timeout expired')],
    ['pg connect timeout, as the end of the socket', driverError('Connection terminated due to connection timeout')],
    ['a connection lost mid-query', driverError('Connection terminated unexpectedly')],
    ['refused', driverError('connect ECONNREFUSED 127.0.0.1:5999', 'ECONNREFUSED')],
    ['the pool waited too long', Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' })],
    ['SQLSTATE class 08', driverError('connection failure', '08006')],
    ['the server shutting down', driverError('terminating connection due to administrator command', '57P01')],
  ])('%s → unavailable', (_, e) => expect(isDatabaseUnavailable(e)).toBe(true));

  it.each([
    ['a protocol violation from bad data (NUL byte)', driverError('invalid message format', '08P01')],
    ['a unique violation', driverError('duplicate key value violates unique constraint', '23505')],
    ['a message that only contains the words', driverError('lock timeout expired while waiting', '55P03')],
    ['anything else', new Error('boom')],
  ])('%s → not unavailable', (_, e) => expect(isDatabaseUnavailable(e)).toBe(false));
});
