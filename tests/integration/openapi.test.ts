import { validate, compileErrors } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { API_PREFIX, SWAGGER_UI_VERSION } from '../../src/api/app.js';
import { admin, hourlySlot } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';
import { OutboxSchema } from '../../src/db/entities/index.js';
import { webhookBody } from '../../src/follow-ups/webhooks.js';
import type { BookingEventPayload, BookingEventType } from '../../src/jobs/catalogue.js';

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
      // Every 503 is sent with Retry-After (src/api/errors.ts): the document says so.
      if (!(op.responses?.['503'] as OpenAPIV3_1.ResponseObject | undefined)?.headers?.['Retry-After']) gaps.push(`${method} ${path}: 503 without Retry-After`);
      const ok = Object.keys(op.responses ?? {}).some((s) => /^2\d\d$/.test(s));
      if (!ok) gaps.push(`${method} ${path}: no success response`);
    }
    expect(gaps).toEqual([]);
  });
});

/**
 * `check` sends a request and checks its answer against the document: its status is documented for the operation
 * of `template` (its OpenAPI path, unprefixed), its body validates against that status's schema, and the headers
 * the service promises on it (Location, Preference-Applied) are declared there. Mismatches collect in `failures`.
 */
function documentedAnswers(on: Stack) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ ...structuredClone(doc), $id: 'openapi' });
  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const failures: string[] = [];
  const check = async (method: string, template: string, path: string, opts: Parameters<Stack['request']>[2] = {}) => {
    const res = await on.request(method.toUpperCase(), API_PREFIX + path, opts);
    const documented = doc.paths?.[API_PREFIX + template]?.[method as 'get']?.responses?.[String(res.status)] as OpenAPIV3_1.ResponseObject | undefined;
    if (!documented) return void failures.push(`${method} ${path}: ${res.status} is not documented`);
    for (const header of ['Location', 'Preference-Applied'])
      if (res.headers.get(header) !== null && !documented.headers?.[header]) failures.push(`${method} ${path} ${res.status}: ${header} sent, not declared`);
    const validate = ajv.getSchema(`openapi#/${pointer('paths', API_PREFIX + template, method, 'responses', String(res.status), 'content', 'application/json', 'schema')}`);
    if (!validate) return void failures.push(`${method} ${path} ${res.status}: no JSON schema`);
    if (!validate(res.body)) failures.push(`${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}`);
    return res;
  };
  /** The document's schema at a JSON pointer (without the leading '#/'), compiled. */
  const schemaAt = (...parts: string[]) => ajv.getSchema(`openapi#/${pointer(...parts)}`)!;
  return { check, failures, schemaAt, errorsText: (e: Parameters<typeof ajv.errorsText>[0]) => ajv.errorsText(e) };
}

describe('answers against their documented schemas', () => {
  it('what the app sends validates against the schema /openapi.json gives for that operation and status', async () => {
    const { check, failures } = documentedAnswers(stack);
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

  it('finished jobs (Prefer: wait, GET /jobs/:id) validate against JobStatus; every result field and error code is documented', async () => {
    const worked = await startStack();
    try {
      const { check, failures, schemaAt, errorsText } = documentedAnswers(worked);
      const documentedFields = Object.keys((doc.components?.schemas?.CommandResult as OpenAPIV3_1.SchemaObject).properties ?? {});
      const undocumented = new Set<string>();
      /** A command answered 200 after its wait, checked, with its result's fields noted. */
      const finished = async (method: string, template: string, path: string, opts: Parameters<Stack['request']>[2]) => {
        const res = await check(method, template, path, { wait: 10, ...opts });
        expect(res?.status, `${method} ${path}`).toBe(200);
        for (const field of Object.keys(res?.body.result ?? {})) if (!documentedFields.includes(field)) undocumented.add(`${res?.body.name}: ${field}`);
        return res!.body;
      };
      const member = makeUser('member');
      const staff = makeUser('staff');
      const ws = await check('post', '/workspaces', '/workspaces', { as: admin, body: { name: 'Jobs Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 700 } });
      const space = await check('post', '/workspaces/{id}/spaces', `/workspaces/${ws?.body.id}/spaces`, {
        as: admin,
        body: { name: 'Desk 2', kind: 'desk', capacity: 1, hourlyRate: 500, dailyRate: 3000, monthlyRate: 40000 },
      });
      const spaceId = space?.body.id as string;
      const created = await finished('post', '/booking/bookings', '/booking/bookings', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(50) } });
      const bookingId = created.result.bookingId as string;
      const item = `/booking/bookings/${bookingId}`;
      await finished('patch', '/booking/bookings/{id}', item, { as: member, body: { notes: 'window seat' } });
      await finished('post', '/booking/bookings/{id}/confirm', `${item}/confirm`, { as: staff });
      const refused = await finished('post', '/booking/bookings/{id}/confirm', `${item}/confirm`, { as: staff });
      expect(refused).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
      await check('get', '/jobs/{jobId}', `/jobs/${refused.id}`, { as: staff });
      await finished('post', '/booking/bookings/{id}/cancel', `${item}/cancel`, { as: member, body: { reason: 'plans changed' } });
      expect((await finished('delete', '/booking/bookings/{id}', item, { as: member })).result).toMatchObject({ deleted: true });
      await finished('post', '/booking/cart/add-item', '/booking/cart/add-item', { as: member, body: { spaceId, bookingType: 'hourly', ...hourlySlot(52) } });
      const checkout = await finished('post', '/booking/cart/checkout', '/booking/cart/checkout', { as: member });
      expect(checkout.result.bookingIds).toHaveLength(1);
      await check('get', '/jobs/{jobId}', `/jobs/${checkout.id}`, { as: member });
      await finished('post', '/booking/cart/clear', '/booking/cart/clear', { as: member });
      expect((await finished('post', '/booking/cart/checkout', '/booking/cart/checkout', { as: member })).error.code).toBe('cart_empty');
      expect(failures).toEqual([]);
      expect([...undocumented]).toEqual([]);

      // The outbound webhook: what a delivery of this booking's first event would POST validates as documented.
      const webhook = doc.webhooks?.bookingEvent?.post as OpenAPIV3_1.OperationObject | undefined;
      expect((webhook?.parameters ?? []).map((p) => (p as OpenAPIV3_1.ParameterObject).name).sort()).toEqual([
        'x-webhook-event',
        'x-webhook-id',
        'x-webhook-signature',
        'x-webhook-timestamp',
      ]);
      const validate = schemaAt('webhooks', 'bookingEvent', 'post', 'requestBody', 'content', 'application/json', 'schema');
      const [event] = await worked.orm.em.fork().find(OutboxSchema, { aggregateId: bookingId }, { orderBy: { createdAt: 'asc' }, limit: 1 });
      const delivered = JSON.parse(webhookBody(event!.id, event!.eventType as BookingEventType, event!.payload as BookingEventPayload));
      expect(validate(delivered), errorsText(validate.errors)).toBe(true);
      expect(validate({ ...delivered, type: 'BOOKING_EXPLODED' })).toBe(false);
    } finally {
      await worked.close();
    }
  });
});
