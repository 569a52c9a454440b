import { validate, compileErrors } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { API_PREFIX, SWAGGER_UI_VERSION } from '../../src/api/app.js';
import { admin, hourlySlot } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

/**
 * The OpenAPI document is generated from the zod route declarations; this checks it is valid and complete against
 * what the app really serves. Generic on purpose: a route added in any routes file is checked without editing this.
 */
let stack: Stack;
let doc: OpenAPIV3_1.Document;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  const res = await stack.request('GET', '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(() => stack?.close());

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Every handler the app registered under /api/v1 (middleware, registered as method ALL, left out). */
function registeredApiRoutes(): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of stack.app.routes) {
    if (r.method === 'ALL' || !r.path.startsWith(`${API_PREFIX}/`)) continue;
    // Hono's `:id` (optionally `:id{regex}`) is OpenAPI's `{id}`.
    const path = r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
    const method = r.method.toLowerCase();
    seen.set(`${method} ${path}`, { method, path });
  }
  return [...seen.values()];
}

function documentedOperations(): { method: string; path: string; op: OpenAPIV3_1.OperationObject }[] {
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const op = (item as Record<string, unknown>)[method] as OpenAPIV3_1.OperationObject | undefined;
      return op ? [{ method, path, op }] : [];
    }),
  );
}

describe('/docs', () => {
  it('serves Swagger UI from a pinned swagger-ui-dist release, pointed at /openapi.json', async () => {
    const res = await stack.request('GET', '/docs');
    expect(res.status).toBe(200);
    const html = res.body as string;
    expect(html).toContain(`swagger-ui-dist@${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`);
    expect(html).not.toMatch(/swagger-ui-dist\//);
    expect(html).toContain('/openapi.json');
  });
});

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    // validate() works on (and dereferences) its argument: give it a copy.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('documents every route registered under /api/v1, with its method, and nothing that is not served', () => {
    const routes = registeredApiRoutes();
    expect(routes.length).toBeGreaterThan(10);
    const documented = new Set(documentedOperations().map((o) => `${o.method} ${o.path}`));
    const missing = routes.map((r) => `${r.method} ${r.path}`).filter((k) => !documented.has(k));
    expect(missing, 'registered but not documented').toEqual([]);
    const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const phantom = [...documented].filter((k) => !served.has(k));
    expect(phantom, 'documented but not served').toEqual([]);
  });

  it('declares bearer auth, and every operation its 401 and 503 answers', () => {
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const global = (doc.security ?? []).some((s) => 'bearerAuth' in s);
    const gaps: string[] = [];
    for (const { method, path, op } of documentedOperations()) {
      const secured = op.security ? op.security.some((s) => 'bearerAuth' in s) : global;
      if (!secured) gaps.push(`${method} ${path}: no bearer security`);
      for (const status of ['401', '503']) if (!op.responses?.[status]) gaps.push(`${method} ${path}: no ${status} response`);
      const ok = Object.keys(op.responses ?? {}).some((s) => /^2\d\d$/.test(s));
      if (!ok) gaps.push(`${method} ${path}: no success response`);
    }
    expect(gaps).toEqual([]);
  });
});

describe('answers against their documented schemas', () => {
  it('what the app sends validates against the schema /openapi.json gives for that operation and status', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    ajv.addSchema({ ...structuredClone(doc), $id: 'openapi' });
    const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
    const failures: string[] = [];
    /** Sends the request and checks its answer against the documented schema of `template` (its OpenAPI path, unprefixed). */
    const check = async (method: string, template: string, path: string, opts: Parameters<Stack['request']>[2] = {}) => {
      const res = await stack.request(method.toUpperCase(), API_PREFIX + path, opts);
      const documented = doc.paths?.[API_PREFIX + template]?.[method as 'get']?.responses?.[String(res.status)];
      if (!documented) return void failures.push(`${method} ${path}: ${res.status} is not documented`);
      const validate = ajv.getSchema(`openapi#/${pointer('paths', API_PREFIX + template, method, 'responses', String(res.status), 'content', 'application/json', 'schema')}`);
      if (!validate) return void failures.push(`${method} ${path} ${res.status}: no JSON schema`);
      if (!validate(res.body)) failures.push(`${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}`);
      return res;
    };
    const member = makeUser('member');
    const ws = await check('post', '/workspaces', '/workspaces', { as: admin, body: { name: 'Doc Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 700 } });
    const space = await check('post', '/workspaces/{id}/spaces', `/workspaces/${ws?.body.id}/spaces`, {
      as: admin,
      body: { name: 'Desk 1', kind: 'desk', capacity: 1, hourlyRate: 500, dailyRate: 3000, monthlyRate: 40000 },
    });
    await check('get', '/workspaces', '/workspaces', { as: member });
    await check('get', '/workspaces/{id}', `/workspaces/${ws?.body.id}`, { as: member });
    await check('get', '/workspaces/{id}/spaces', `/workspaces/${ws?.body.id}/spaces`, { as: member });
    await check('get', '/spaces/{id}', `/spaces/${space?.body.id}`, { as: member });
    const slot = hourlySlot(48);
    await check('get', '/spaces/{id}/availability', `/spaces/${space?.body.id}/availability?from=${slot.startsAt}&to=${slot.endsAt}`, { as: member });
    const accepted = await check('post', '/booking/bookings', '/booking/bookings', { as: member, body: { spaceId: space?.body.id, bookingType: 'hourly', ...slot } });
    await check('get', '/jobs/{jobId}', `/jobs/${accepted?.body.jobId}`, { as: member });
    await check('get', '/booking/bookings', '/booking/bookings', { as: member });
    await check('get', '/booking/cart', '/booking/cart', { as: member });
    await check('post', '/workspaces', '/workspaces', { as: admin, body: {} });
    await check('get', '/spaces/{id}', `/spaces/${crypto.randomUUID()}`, { as: member });
    expect(failures).toEqual([]);
  });
});
