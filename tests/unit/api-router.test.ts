import { createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { apiRouter } from '../../src/api/router.js';

/**
 * apiRouter checks a route's declared headers by looking each one up, never by copying every header of the request
 * (what zod-openapi's header validator does: on @hono/node-server that builds the full Headers object per request).
 */
const Headers = z.object({
  'idempotency-key': z.string().max(5).optional(),
  prefer: z.string().max(10).optional().openapi({ description: 'documented' }),
});
const route = createRoute({
  method: 'post',
  path: '/things/{id}',
  request: { params: z.object({ id: z.string().max(3) }), headers: Headers, body: { content: { 'application/json': { schema: z.object({ n: z.number() }) } }, required: true } },
  responses: { 200: { description: 'ok' } },
});

function app() {
  const a = apiRouter();
  a.openapi(route, (c) => c.json({ n: c.req.valid('json').n, id: c.req.valid('param').id, key: c.req.header('idempotency-key') ?? null }, 200));
  return a;
}

/** A request whose Headers cannot be iterated: a handler path that copies all headers fails with 500. */
function request(headers: Record<string, string>, body: unknown = { n: 1 }, id = 'abc') {
  const req = new Request(`http://x/things/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  for (const name of ['forEach', 'entries', 'keys', 'values', Symbol.iterator])
    Object.defineProperty(req.headers, name, { value: () => { throw new Error('headers iterated'); } });
  return req;
}

describe('apiRouter: declared headers', () => {
  it('are checked by lookup: a valid request is served without iterating its headers', async () => {
    const res = await app().request(request({ 'idempotency-key': 'k1' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ n: 1, id: 'abc', key: 'k1' });
  });

  it('an invalid header is a 400 at headers.<name>, before params and body are looked at', async () => {
    const res = await app().request(request({ prefer: 'wait=1'.repeat(3) }, { n: 'x' }, 'toolong'));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
    expect(body.error.code).toBe('validation_error');
    expect(body.error.details.map((d) => d.path)).toEqual(['headers.prefer']);
  });

  it('with valid headers, params and the body are still validated', async () => {
    const res = await app().request(request({}, { n: 'x' }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { path: string }[] } };
    expect(body.error.details.map((d) => d.path)).toEqual(['n']);
  });

  it('are documented as header parameters, the path registered once', () => {
    const a = app();
    const doc = a.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
    const op = doc.paths?.['/things/{id}']?.post;
    expect(op).toBeDefined();
    const params = (op!.parameters ?? []) as { in: string; name: string; description?: string }[];
    expect(params.filter((p) => p.in === 'header').map((p) => p.name).sort()).toEqual(['idempotency-key', 'prefer']);
    expect(params.find((p) => p.name === 'prefer')?.description).toBe('documented');
    expect(params.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(['id']);
    expect(a.openAPIRegistry.definitions.filter((d) => d.type === 'route')).toHaveLength(1);
  });
});
