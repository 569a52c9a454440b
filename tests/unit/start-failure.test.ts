import { describe, expect, it } from 'vitest';
import { startFailureMessage, withoutPassword } from '../../src/start-failure.js';

const settings = { db: { url: 'postgres://app:pw@db:5432/cw', poolMax: 10, queryTimeoutMs: 0 }, http: { port: 3000 }, health: { port: 3001 } } as never;

describe('startFailureMessage', () => {
  it('names the setting behind the failures of a start', () => {
    expect(startFailureMessage(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', address: '0.0.0.0', port: 3001 }), settings)).toBe(
      'Cannot listen on 0.0.0.0:3001: the port is in use (HEALTH_PORT)',
    );
    expect(startFailureMessage(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', address: '::', port: 3000 }), settings)).toMatch(/\(PORT\)$/);
    // The scheduler's HEALTH_PORT set to the web's PORT: named by the server that failed.
    expect(
      startFailureMessage(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', address: '::', port: 3000, setting: 'HEALTH_PORT' }), settings),
    ).toMatch(/\(HEALTH_PORT\)$/);
    expect(startFailureMessage(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }), settings)).toBe(
      'PostgreSQL refused the login of DATABASE_URL (postgres://app:***@db:5432/cw): password authentication failed for user "app"',
    );
    expect(startFailureMessage(Object.assign(new Error('timeout expired'), {}), settings)).toBe('Cannot reach PostgreSQL at postgres://app:***@db:5432/cw (DATABASE_URL): timeout expired');
  });

  it('leaves anything else to be reported with its stack', () => {
    expect(startFailureMessage(new TypeError('x is not a function'), settings)).toBeUndefined();
    expect(startFailureMessage(Object.assign(new Error('syntax error'), { code: '42601' }), settings)).toBeUndefined();
  });
});

describe('withoutPassword', () => {
  it('masks the password and keeps the rest', () => {
    expect(withoutPassword('postgres://u:p%40ss@h:1/d?sslmode=require')).toBe('postgres://u:***@h:1/d?sslmode=require');
    expect(withoutPassword('postgres://u@h/d')).toBe('postgres://u@h/d');
    expect(withoutPassword('not a url')).toBe('(unparsable URL)');
  });
});
