import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has laptop defaults', () => {
    const c = loadConfig({});
    expect(c.db.url).toBe('postgres://postgres@127.0.0.1:5432/coworking');
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', cacheUrl: 'redis://127.0.0.1:6379' });
    expect(c.http.port).toBe(3000);
    expect(c.http.bodyLimitBytes).toBe(65536);
    expect(c.queue.prefix).toBe('cowork');
  });

  it('reads and coerces env', () => {
    const c = loadConfig({ PORT: '8080', REDIS_URL: 'redis://r:6380', CACHE_REDIS_URL: 'redis://c:6381', COMMAND_CONCURRENCY: '25' });
    expect(c.http.port).toBe(8080);
    expect(c.redis).toEqual({ url: 'redis://r:6380', cacheUrl: 'redis://c:6381' });
    expect(c.queue.commandConcurrency).toBe(25);
  });

  it('an empty or blank variable is unset: its default, never 0', () => {
    const c = loadConfig({ PORT: '', SHUTDOWN_TIMEOUT_MS: '', DATABASE_QUERY_TIMEOUT_MS: ' ', REDIS_URL: '', HEALTH_PORT: '' });
    expect(c.http.port).toBe(3000);
    expect(c.shutdownTimeoutMs).toBe(25_000);
    expect(c.db.queryTimeoutMs).toBe(10_000);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.health.port).toBeUndefined();
  });

  it('numbers are decimal: hex, exponents and padding are refused, not read as what Number() makes of them', () => {
    for (const bad of ['0x10', '1e3', ' 8080', '8080 ', 'Infinity', '+80']) expect(() => loadConfig({ PORT: bad }), bad).toThrow(/PORT: must be a decimal number/);
    expect(loadConfig({ CART_HOLD_MINUTES: '0.5' }).cart.holdMinutes).toBe(0.5);
  });

  it('fails naming every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', QUEUE_PREFIX: 'a:b' })).toThrow(
      /PORT[\s\S]*DATABASE_URL: must be a postgres:\/\/ URL[\s\S]*QUEUE_PREFIX/,
    );
  });

  it('the outbox mark delay: 20 ms by default, 0–1000 ms, refused otherwise', () => {
    expect(loadConfig({}).followUps.markDelayMs).toBe(20);
    expect(loadConfig({ OUTBOX_MARK_DELAY_MS: '0' }).followUps.markDelayMs).toBe(0);
    for (const bad of ['-1', '1001', 'soon', '2.5']) expect(() => loadConfig({ OUTBOX_MARK_DELAY_MS: bad })).toThrow(/OUTBOX_MARK_DELAY_MS/);
  });

  it('the booking and cart sweeps: every 60 s by default, else at least 1 s', () => {
    expect(loadConfig({}).maintenance.sweepEveryMs).toBe(60_000);
    expect(loadConfig({ SWEEP_EVERY_MS: '5000' }).maintenance.sweepEveryMs).toBe(5000);
    for (const bad of ['0', '999', 'often', '1500.5']) expect(() => loadConfig({ SWEEP_EVERY_MS: bad })).toThrow(/SWEEP_EVERY_MS/);
  });

  it('the table statistics sweep: every 60 s by default, 0 for never, else at least 1 s', () => {
    expect(loadConfig({}).maintenance.tableStatsEveryMs).toBe(60_000);
    expect(loadConfig({ TABLE_STATS_EVERY_MS: '0' }).maintenance.tableStatsEveryMs).toBe(0);
    expect(loadConfig({ TABLE_STATS_EVERY_MS: '1000' }).maintenance.tableStatsEveryMs).toBe(1000);
    for (const bad of ['-1', '999', 'often', '1500.5']) expect(() => loadConfig({ TABLE_STATS_EVERY_MS: bad })).toThrow(/TABLE_STATS_EVERY_MS/);
  });

  it('webhooks may reach private networks outside production, not in it unless allowed', () => {
    expect(loadConfig({}).followUps.webhook.allowPrivateNetworks).toBe(true);
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db/cw', REDIS_URL: 'redis://r:6379', JWT_SECRET: 'x'.repeat(40), BULL_BOARD_PASSWORD: 'a-long-pass' };
    expect(loadConfig(prod).followUps.webhook.allowPrivateNetworks).toBe(false);
    expect(loadConfig({ ...prod, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }).followUps.webhook.allowPrivateNetworks).toBe(true);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }).followUps.webhook.allowPrivateNetworks).toBe(false);
  });

  it('production refuses the development defaults and the published placeholders', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /DATABASE_URL: required in production[\s\S]*REDIS_URL: required in production[\s\S]*JWT_SECRET: required in production[\s\S]*BULL_BOARD_PASSWORD: required in production/,
    );
    const urls = { DATABASE_URL: 'postgres://app@db/cw', REDIS_URL: 'redis://r:6379' };
    const good = { ...urls, JWT_SECRET: 'x'.repeat(40), BULL_BOARD_PASSWORD: 'a-long-pass' };
    for (const JWT_SECRET of ['dev-only-secret-change-me-0123456789', 'change-me-to-a-long-random-secret-please'])
      expect(() => loadConfig({ NODE_ENV: 'production', ...good, JWT_SECRET })).toThrow(/JWT_SECRET: .*not a placeholder/);
    for (const BULL_BOARD_PASSWORD of ['admin', 'short', 'password'])
      expect(() => loadConfig({ NODE_ENV: 'production', ...good, BULL_BOARD_PASSWORD })).toThrow(/BULL_BOARD_PASSWORD/);
    const c = loadConfig({ NODE_ENV: 'production', ...good });
    expect(c.auth.jwtSecret).toBe('x'.repeat(40));
    expect(c.bullBoard.password).toBe('a-long-pass');
    expect(c.db.url).toBe('postgres://app@db/cw');
  });
});
