import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, hourlySlot, seedSpace } from '../helpers/factories.js';
import { BULL_BOARD_PATH } from '../../src/api/bull-board.js';
import { QUEUE_NAMES } from '../../src/jobs/catalogue.js';
import { makeUser, startStack, tokenFor, type Stack } from '../helpers/stack.js';

/**
 * The API's cheaper paths answer as the plain ones did: the body limit over a real HTTP server (Content-Length,
 * chunked, GET), a cached list page byte for byte, and the booking routes' one-query space lookup.
 */
let stack: Stack;
let server: ServerType;
let base: string;
let spaceId: string;
const member = makeUser('member');
const createPath = '/api/v1/booking/bookings';

beforeAll(async () => {
  stack = await startStack();
  spaceId = (await seedSpace(stack)).space.id;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
  });
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stack?.close();
});

/** One raw HTTP request (node:http, so the body can be sent chunked, without Content-Length). */
async function raw(method: string, path: string, opts: { token?: string; basic?: string; body?: string; chunked?: boolean } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.basic) headers.authorization = `Basic ${Buffer.from(opts.basic).toString('base64')}`;
  if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    if (opts.body !== undefined && opts.chunked) {
      // Several chunks: the limit has to count the bytes as they stream.
      for (let i = 0; i < opts.body.length; i += 16 * 1024) req.write(opts.body.slice(i, i + 16 * 1024));
    } else if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Every job the commands queue holds, in any state (finished ones are kept): grows by one per enqueued command. */
const allJobs = async () => Object.values(await stack.queues.commands.getJobCounts()).reduce((a, b) => a + b, 0);

let nextHour = 72;
/** A create body for a slot no other request of this file uses. */
const createBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ spaceId, bookingType: 'hourly', ...hourlySlot((nextHour += 2)), ...extra });

describe('body limit over a real HTTP server', () => {
  it('a body over the limit is 413, whether sent with Content-Length or chunked; nothing is enqueued', async () => {
    const token = await tokenFor(member);
    const before = await allJobs();
    for (const chunked of [false, true]) {
      const res = await raw('POST', createPath, { token, body: createBody({ notes: 'x'.repeat(70 * 1024) }), chunked });
      expect(res.status, `chunked=${chunked}`).toBe(413);
      expect(JSON.parse(res.text).error).toMatchObject({ code: 'payload_too_large', message: expect.stringMatching(/65536/) });
    }
    expect(await allJobs()).toBe(before);
  });

  it('a body under the limit is read and validated either way (400 on notes, then a 202 for a good one)', async () => {
    const token = await tokenFor(member);
    for (const chunked of [false, true]) {
      const tooLong = await raw('POST', createPath, { token, body: createBody({ notes: 'x'.repeat(60 * 1024) }), chunked });
      expect(tooLong.status, `chunked=${chunked}`).toBe(400);
      expect(JSON.parse(tooLong.text).error.details.map((d: { path: string }) => d.path)).toEqual(['notes']);
    }
    const ok = await raw('POST', createPath, { token, body: createBody({ notes: 'fine' }), chunked: true });
    expect(ok.status).toBe(202);
  });

  it('GET requests pass (and a GET with a body is still answered as a GET)', async () => {
    const token = await tokenFor(member);
    expect((await raw('GET', createPath, { token })).status).toBe(200);
    expect((await raw('GET', createPath, { token, body: 'x'.repeat(70 * 1024) })).status).toBe(200);
  });
});

describe('cached list page', () => {
  it('a hit answers the same bytes as the miss before it: {items, page, pageSize, total}, application/json', async () => {
    const owner = makeUser('member');
    const created = await stack.request('POST', createPath, { as: owner, wait: 10, body: JSON.parse(createBody({ notes: 'list me "quoted" ✓' })) });
    expect(created.body.state).toBe('completed');
    const token = await tokenFor(owner);
    const miss = await raw('GET', `${createPath}?pageSize=5`, { token });
    const hit = await raw('GET', `${createPath}?pageSize=5`, { token });
    expect(hit.text).toBe(miss.text);
    expect(hit.headers['content-type']).toBe(miss.headers['content-type']);
    expect(hit.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(hit.text);
    expect(Object.keys(body)).toEqual(['items', 'page', 'pageSize', 'total']);
    expect(body).toMatchObject({ page: 1, pageSize: 5, total: 1, items: [{ id: created.body.result.bookingId, notes: 'list me "quoted" ✓' }] });
    expect(hit.text).toBe(JSON.stringify(body));
  });
});

describe('space lookup of the booking routes (space and workspace in one query)', () => {
  it('an unknown space is 404; a new space is bookable at once', async () => {
    const res = await stack.request('POST', createPath, { as: member, body: JSON.parse(createBody({ spaceId: randomUUID() })) });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    const fresh = (await seedSpace(stack)).space.id;
    expect((await stack.request('POST', createPath, { as: member, body: JSON.parse(createBody({ spaceId: fresh })) })).status).toBe(202);
  });

  it('uses that space’s capacity, active flag and workspace time zone', async () => {
    const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'Other', timezone: 'Asia/Kathmandu', currency: 'NPR', taxRateBps: 0 } });
    expect(ws.status).toBe(201);
    const space = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
      as: admin,
      body: { name: 'Desk', kind: 'desk', capacity: 1, hourlyRate: 100, dailyRate: 500, monthlyRate: 9000 },
    });
    expect(space.status).toBe(201);
    const book = (body: Record<string, unknown>) => stack.request('POST', createPath, { as: member, body: { spaceId: space.body.id, ...body } });
    // Capacity 1: two attendees are refused at the API.
    const tooMany = await book({ bookingType: 'hourly', ...hourlySlot(200), attendees: 2 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.map((d: { path: string }) => d.path)).toEqual(['attendees']);
    // Daily bookings run from local midnight: a UTC midnight is not one in Kathmandu (+05:45).
    const day = new Date(Date.UTC(new Date().getUTCFullYear() + 1, 0, 10));
    const utcDay = await book({ bookingType: 'daily', startsAt: day.toISOString(), endsAt: new Date(day.getTime() + 86_400_000).toISOString() });
    expect(utcDay.status).toBe(400);
    const local = new Date(day.getTime() - (5 * 60 + 45) * 60_000);
    const localDay = await book({ bookingType: 'daily', startsAt: local.toISOString(), endsAt: new Date(local.getTime() + 86_400_000).toISOString() });
    expect(localDay.status).toBe(202);
    // Inactive (there is no route for it: set in the database) → 409 at the API, nothing enqueued.
    await stack.orm.em.getConnection().execute('update spaces set active = false where id = ?', [space.body.id], 'run');
    const before = await allJobs();
    const inactive = await book({ bookingType: 'hourly', ...hourlySlot(210) });
    expect(inactive.status).toBe(409);
    expect(inactive.body.error.code).toBe('space_inactive');
    expect(await allJobs()).toBe(before);
  });
});

describe('Bull Board beside the API routes', () => {
  // The stack's defaults: BULL_BOARD_USER admin, no BULL_BOARD_PASSWORD so the password is admin too.
  const basic = 'admin:admin';

  it('the API routes stay on the RegExpRouter (the board, which it cannot compile, has its own app)', async () => {
    expect((await raw('GET', '/healthz')).status).toBe(200);
    // SmartRouter names itself after the router it settled on at the first request.
    expect(stack.app.router.name).toBe('SmartRouter + RegExpRouter');
  });

  it('serves its page and its API to the right credentials, over the real server', async () => {
    const page = await raw('GET', BULL_BOARD_PATH, { basic });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const api = await raw('GET', `${BULL_BOARD_PATH}/api/queues`, { basic });
    expect(api.status).toBe(200);
    const names = (JSON.parse(api.text).queues as { name: string }[]).map((q) => q.name);
    expect(names.sort()).toEqual(Object.values(QUEUE_NAMES).sort());
  });

  it('is 401 with a Basic challenge without credentials or with wrong ones, on the page and on its API', async () => {
    for (const path of [BULL_BOARD_PATH, `${BULL_BOARD_PATH}/api/queues`]) {
      for (const creds of [undefined, 'admin:wrong']) {
        const res = await raw('GET', path, { basic: creds });
        expect(res.status, `${path} ${creds}`).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Basic realm="bull-board"/);
        expect(res.text).not.toContain(QUEUE_NAMES.commands);
      }
    }
  });

  it('its address with a trailing slash redirects to the page', async () => {
    const res = await raw('GET', `${BULL_BOARD_PATH}/`, { basic });
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(BULL_BOARD_PATH);
  });

  it('an unknown board path is the API error envelope (404 not_found), not a bare page', async () => {
    const res = await raw('GET', `${BULL_BOARD_PATH}/api/no-such-thing/at/all`, { basic });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text).error).toMatchObject({ code: 'not_found' });
  });
});
