import { validate, compileErrors } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../../src/api/app.js';
import { startStack, type Stack } from '../helpers/stack.js';

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
