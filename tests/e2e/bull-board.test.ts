import { serve } from '@hono/node-server';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Response as PwResponse } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BULL_BOARD_PATH } from '../../src/api/bull-board.js';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * Bull Board in a real browser: Debian's headless Chromium driven by playwright-core against the app served over
 * real HTTP. `.ci/run` installs Chromium; without it this test fails (it never skips).
 */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const USER = 'ops';
const PASSWORD = 'board-secret-for-tests';
const SCREENSHOT = '/tmp/bull-board.png';

let stack: Stack;
let server: ReturnType<typeof serve>;
let base: string;
const profiles: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  stack = await startStack({ worker: false, env: { BULL_BOARD_USER: USER, BULL_BOARD_PASSWORD: PASSWORD } });
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
  });
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await stack?.close();
});

/** A browser with a fresh profile (its own --user-data-dir), optionally sending basic-auth credentials. */
async function browser(httpCredentials?: { username: string; password: string }): Promise<BrowserContext> {
  const dir = mkdtempSync(join(tmpdir(), 'bull-board-chromium-'));
  profiles.push(dir);
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, httpCredentials });
  contexts.push(context);
  return context;
}

describe('Bull Board in headless Chromium', () => {
  it('shows every queue to a user with the credentials', async () => {
    const context = await browser({ username: USER, password: PASSWORD });
    const page = context.pages()[0] ?? (await context.newPage());
    const res = await page.goto(`${base}${BULL_BOARD_PATH}`, { waitUntil: 'domcontentloaded' });
    expect(res?.status()).toBe(200);
    // The board is a single-page app: its queue list arrives from its API after the page loads.
    for (const name of Object.values(QUEUE_NAMES)) {
      await page.getByText(name, { exact: true }).first().waitFor({ state: 'visible', timeout: 20_000 });
    }
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const text = await page.locator('body').innerText();
    for (const name of Object.values(QUEUE_NAMES)) expect(text).toContain(name);
  });

  it('answers 401 without credentials, and with wrong ones', async () => {
    const url = `${base}${BULL_BOARD_PATH}`;
    for (const credentials of [undefined, { username: USER, password: 'not-the-password' }]) {
      const context = await browser(credentials);
      const page = context.pages()[0] ?? (await context.newPage());
      const seen: PwResponse[] = [];
      page.on('response', (r) => seen.push(r));
      // Chromium gives up on a challenge it has no (right) credentials for: the navigation fails, or shows the 401.
      const navigation = await page.goto(url).then(
        (r) => r,
        (e: Error) => e,
      );
      if (navigation instanceof Error) expect(navigation.message).toContain('ERR_INVALID_AUTH_CREDENTIALS');
      const refused = seen.filter((r) => r.url() === url);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const r of refused) {
        expect(r.status()).toBe(401);
        // The challenge a browser needs before it sends credentials at all.
        expect(r.headers()['www-authenticate']).toMatch(/^Basic realm="bull-board"/);
      }
      // The board's API, which the page would call for the queue list, is closed too.
      const api = await context.request.get(`${url}/api/queues`);
      expect(api.status()).toBe(401);
      expect(await api.text()).not.toContain(QUEUE_NAMES.commands);
    }
  });
});
