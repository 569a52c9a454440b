import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, startStack, tokenFor, type Stack, type TestResponse } from '../helpers/stack.js';
import { unfinishedJobs } from './helpers/ledger.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 5: property-based fuzzing (fast-check) of every route in the OpenAPI document: bodies, query strings,
 * path parameters and headers, each request valid except for what the fuzzer breaks (wrong types, huge strings,
 * unicode with NUL and lone surrogates, negative and enormous numbers, malformed JSON, oversized bodies, invalid
 * dates and time zones, unknown keys, missing keys). The properties: no answer is 5xx; every refusal is a 4xx in the
 * error envelope `{error: {code, message, details?}}`; a refused request enqueues nothing. Routes come from
 * /openapi.json, so a new route is fuzzed without touching this file.
 */

type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
};
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: JsonSchema;
}
interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body?: { schema: JsonSchema; required: boolean };
}

const RUNS_PER_TARGET = 250;
let stack: Stack;
let doc: { paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> } }>>; components: { schemas: Record<string, JsonSchema> } };
let operations: Operation[] = [];
const member = makeUser('member', 'fuzzy');
const fixtures: Record<string, string> = {};
const tally = { requests: 0, status2xx: 0, status4xx: 0, status5xx: 0, byStatus: new Map<number, number>() };

beforeAll(async () => {
  stack = await startStack({ env: { COMMAND_CONCURRENCY: '4' } });
  const { workspace, space } = await seedSpace(stack);
  fixtures.workspaceId = workspace.id;
  fixtures.spaceId = space.id;
  const booking = await createBooking(stack, member, space.id, hourlySlot(72));
  expect(booking.body).toMatchObject({ state: 'completed' });
  fixtures.bookingId = booking.body.result.bookingId;
  fixtures.jobId = booking.body.id;
  const hook = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/webhooks`, {
    as: admin,
    body: { url: 'https://example.com/hooks', secret: 'fuzz-secret-0123456789', eventTypes: ['BOOKING_CREATED'] },
  });
  expect(hook.status).toBe(201);
  fixtures.webhookId = hook.body.id;

  const res = await stack.request('GET', '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const json = op.requestBody?.content['application/json'];
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        ...(json ? { body: { schema: json.schema, required: op.requestBody?.required ?? false } } : {}),
      });
    }
  }
  operations = operations.filter((o) => o.path.startsWith('/api/v1/'));
});
afterAll(() => stack?.close());

// ---- valid values, from the schema and the fixtures ----

const resolve = (s: JsonSchema | undefined): JsonSchema => {
  let out = s ?? {};
  while (out.$ref) out = doc.components.schemas[out.$ref.split('/').pop()!] ?? {};
  if (out.allOf?.length) return resolve(out.allOf[0]);
  const alternatives = out.anyOf ?? out.oneOf;
  if (alternatives) return resolve(alternatives.find((a) => resolve(a).type !== 'null') ?? alternatives[0]);
  return out;
};

function validValue(schema: JsonSchema | undefined, key: string): unknown {
  const s = resolve(schema);
  if (s.enum?.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  const slot = hourlySlot(500 + Math.floor(Math.random() * 5000));
  switch (type) {
    case 'string':
      if (s.format === 'uuid') {
        if (key === 'spaceId') return fixtures.spaceId;
        if (key === 'bookingId') return fixtures.bookingId;
        if (key === 'workspaceId') return fixtures.workspaceId;
        return randomUUID();
      }
      if (s.format === 'date-time') {
        if (key === 'endsAt' || key === 'to' || key === 'validTo') return slot.endsAt;
        return slot.startsAt;
      }
      if (s.format === 'email') return 'fuzz@example.com';
      if (s.format === 'uri' || key === 'url') return 'https://example.com/hook';
      if (key === 'timezone') return 'Europe/Berlin';
      if (key === 'currency') return 'EUR';
      if (key === 'code' || key === 'promoCode') return `FUZZ${Math.floor(Math.random() * 1e6)}`;
      if (key === 'secret') return 'fuzz-secret-0123456789';
      return 'fuzz';
    case 'integer':
    case 'number':
      return s.minimum !== undefined && s.minimum > 0 ? s.minimum : 1;
    case 'boolean':
      return true;
    case 'array':
      return s.minItems ? [validValue(s.items, key)] : [];
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) if (s.required?.includes(k)) out[k] = validValue(v, k);
      return out;
    }
    default:
      return 'fuzz';
  }
}

// ---- hostile values ----

const INVALID_DATES = [
  '2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-12-01T25:00:00Z', '2026-12-01T09:60:00Z', '2026-12-01T09:00:00+25:00',
  '2026-12-01T09:00:00', '2026-12-01', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '+275760-09-13T00:00:00Z',
  '-000001-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z', '2026-12-01T09:00:00.123456789Z', '2026-12-01T09:00:00-00:00', 'now',
  '2026-W48-1', '2026-12-01T09:00:00Z\u0000', 'Tue, 01 Dec 2026 09:00:00 GMT', '1e12', '',
];
const INVALID_ZONES = ['Mars/Olympus_Mons', 'UTC+5', 'Europe/Berlin\u0000', 'Etc/GMT+99', '../../etc/passwd', 'europe/berlin ', 'Local', '\ud800'];
const NASTY_STRINGS = [
  '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\udc00\ud800', '\ufeff', '\u202e', '💥'.repeat(300), 'ǅ'.repeat(50), '\r\n\t',
  "'; drop table bookings; --", '{{7*7}}', '<script>alert(1)</script>', '%00', '../'.repeat(20), ' '.repeat(500),
];

const hostileString = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS, ...INVALID_DATES, ...INVALID_ZONES),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'binary', minLength: 2001, maxLength: 6000 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(-1, 0, -0, 0.5, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], { $ne: null }, { __proto__: { admin: true } }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Breaks what the schema says a value is, more often than chance would: dates, ids, zones, numbers. */
function hostileFor(schema: JsonSchema | undefined, key: string): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (s.format === 'date-time')
    return fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...INVALID_DATES) },
      // A well-formed timestamp in any year and offset the format allows (year 0000 does not exist in Postgres).
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.oneof(fc.constantFrom(0, 1, 999, 1000, 1969, 1970, 2038, 9999), fc.integer({ min: 0, max: 9999 })),
            fc.integer({ min: 1, max: 12 }),
            fc.constantFrom('Z', '+14:00', '-12:00', '+23:59', '-23:59', '+00:00'),
          )
          .map(([y, m, z]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-01T00:00:00${z}`),
      },
      { weight: 1, arbitrary: hostileValue },
    );
  if (s.format === 'uuid')
    return fc.oneof(fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', randomUUID().toUpperCase(), `${randomUUID()}\u0000`), fc.uuid().map(String), hostileValue);
  if (key === 'timezone') return fc.oneof(fc.constantFrom(...INVALID_ZONES), hostileValue);
  if (type === 'integer' || type === 'number') return fc.oneof({ weight: 3, arbitrary: hostileNumber }, { weight: 1, arbitrary: hostileValue });
  return hostileValue;
}

/** The classic hostile values for a field, deterministic (the sweep); the fuzzer explores around them. */
function catalogue(schema: JsonSchema | undefined, key: string): unknown[] {
  const s = resolve(schema);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  const valid = validValue(schema, key);
  const text = typeof valid === 'string' ? valid : JSON.stringify(valid);
  const spliced = ['\u0000', '\ud800', '\n', ' '].flatMap((x) => [x + text, text.slice(0, Math.ceil(text.length / 2)) + x + text.slice(Math.ceil(text.length / 2)), text + x]);
  const common: unknown[] = [null, true, [], {}, [valid], { value: valid }, 0, -1, 1.5, 2 ** 53 + 2, 1e308, -1e308, '', 'x'.repeat(5000), ...NASTY_STRINGS, ...spliced];
  if (s.format === 'date-time')
    return [
      ...common,
      ...INVALID_DATES,
      '0000-01-01T00:00:00Z', '0000-12-31T23:59:59Z', '0001-01-01T00:00:00+14:00', '0001-01-01T00:00:00Z', '1000-01-01T00:00:00Z',
      '9999-12-31T23:59:59-14:00', '9999-12-31T23:59:59Z', '2026-12-01T09:00:00+23:59', '2026-12-01T09:00:00-23:59',
    ];
  if (s.format === 'uuid') return [...common, '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', randomUUID().toUpperCase()];
  if (key === 'timezone') return [...common, ...INVALID_ZONES];
  if (type === 'integer' || type === 'number') return [...common, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, '1', '1e3'];
  return common;
}

const MALFORMED_JSON = [
  '{', '{"a":', '[', 'nul', '{"a":1}{"b":2}', "{'a':1}", '{"a":1,}', '\u0000', '\ufeff{}', '1e999999', '"\\ud800"', '{"a":"\\u0000"}',
  '['.repeat(5000) + ']'.repeat(5000), '{"a":' + '['.repeat(20000), 'NaN', 'undefined', '{"__proto__":{"role":"admin"}}',
];

type Variant =
  | { kind: 'body-field'; field: string | null; value: unknown }
  | { kind: 'body-splice'; field: string; insert: string; at: number }
  | { kind: 'body-extra'; key: string; value: unknown }
  | { kind: 'body-drop'; index: number }
  | { kind: 'body-raw'; raw: string; contentType: string }
  | { kind: 'body-oversized'; size: number }
  | { kind: 'query'; param: string | null; value: string; extra?: [string, string] }
  | { kind: 'path'; raw: string }
  | { kind: 'header'; name: string; value: string };

const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c === 0x7f ? 0x20 : c)), maxLength: 300 });

function variants(op: Operation): fc.Arbitrary<Variant> {
  const options: fc.Arbitrary<Variant>[] = [];
  const bodySchema = op.body ? resolve(op.body.schema) : undefined;
  const fields = Object.keys(bodySchema?.properties ?? {});
  if (op.body) {
    options.push(
      fields.length
        ? fc.constantFrom(...fields).chain((field) => fc.record({ kind: fc.constant('body-field' as const), field: fc.constant<string | null>(field), value: hostileFor(bodySchema!.properties![field], field) }))
        : fc.record({ kind: fc.constant('body-field' as const), field: fc.constant(null), value: hostileValue }),
      fc.record({ kind: fc.constant('body-field' as const), field: fc.constant(null), value: hostileValue }),
      // A valid value with something nasty inserted: passes a type check, must still be refused or stored safely.
      ...(fields.length
        ? [fc.record({ kind: fc.constant('body-splice' as const), field: fc.constantFrom(...fields), insert: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\n', '\u0000\u0000'), fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 8 })), at: fc.nat({ max: 64 }) })]
        : []),
      fc.record({ kind: fc.constant('body-extra' as const), key: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'role', 'userId', 'actor', 'id')), value: hostileValue }),
      fc.record({ kind: fc.constant('body-raw' as const), raw: fc.oneof(fc.constantFrom(...MALFORMED_JSON), fc.string({ unit: 'binary', maxLength: 200 })), contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', '') }),
      fc.record({ kind: fc.constant('body-oversized' as const), size: fc.integer({ min: 65_537, max: 300_000 }) }),
    );
    if (bodySchema?.required?.length) options.push(fc.record({ kind: fc.constant('body-drop' as const), index: fc.nat({ max: bodySchema.required.length - 1 }) }));
  }
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const query = queryParams.map((p) => p.name);
  const asQueryValue = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  options.push(
    fc.record({
      kind: fc.constant('query' as const),
      param: fc.constant(null),
      value: fc.oneof(hostileString, hostileNumber.map(String)),
      extra: fc.option(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 50 })), { nil: undefined }),
    }),
  );
  for (const p of queryParams)
    options.push(
      fc.record({
        kind: fc.constant('query' as const),
        param: fc.constant<string | null>(p.name),
        value: hostileFor(p.schema, p.name).map(asQueryValue),
        extra: fc.option(fc.tuple(fc.constantFrom(...query), fc.string({ maxLength: 50 })), { nil: undefined }),
      }),
    );
  if (op.parameters.some((p) => p.in === 'path'))
    options.push(
      fc.record({
        kind: fc.constant('path' as const),
        raw: fc.oneof(
          fc.constantFrom('%00', '%ED%A0%80', '%ZZ', '%', '%C0%AF', '..%2F..%2Fetc', 'not-a-uuid', '00000000-0000-0000-0000-000000000000', 'A'.repeat(5000), '%F0%9F%92%A5'),
          fc.uuid().map(String),
          fc.string({ maxLength: 100 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))),
        ),
      }),
    );
  options.push(
    fc.record({
      kind: fc.constant('header' as const),
      name: fc.constantFrom('idempotency-key', 'prefer', 'content-type', 'x-request-id', 'accept', 'content-encoding'),
      value: fc.oneof(latin1, fc.constantFrom('wait=999999999999999999999', 'wait=-1', 'wait=1e3', 'wait=0x10', 'gzip', 'application/json; charset=nonsense')),
    }),
  );
  return fc.oneof(...options);
}

/** Builds the request of one variant: a valid request for the operation, broken where the variant says. */
function build(op: Operation, v: Variant): { path: string; init: { method: string; headers: Record<string, string>; body?: string } } {
  let path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (v.kind === 'path') return v.raw;
    if (name === 'jobId') return fixtures.jobId!;
    if (op.path.startsWith('/api/v1/booking/bookings')) return fixtures.bookingId!;
    if (op.path.startsWith('/api/v1/spaces')) return fixtures.spaceId!;
    if (op.path.startsWith('/api/v1/webhooks')) return fixtures.webhookId!;
    if (op.path.startsWith('/api/v1/workspaces')) return fixtures.workspaceId!;
    return randomUUID();
  });
  const params = new URLSearchParams();
  for (const p of op.parameters.filter((p) => p.in === 'query' && p.required)) params.set(p.name, String(validValue(p.schema, p.name)));
  if (v.kind === 'query') {
    if (v.param) params.set(v.param, v.value);
    if (v.extra) params.append(v.extra[0], v.extra[1]);
  }
  const qs = params.toString();
  if (qs) path += `?${qs}`;
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (op.body) {
    const valid = validValue(op.body.schema, '') as Record<string, unknown>;
    if (v.kind === 'body-field') body = JSON.stringify(v.field ? { ...valid, [v.field]: v.value } : v.value);
    else if (v.kind === 'body-extra') body = JSON.stringify({ ...valid, [v.key]: v.value });
    else if (v.kind === 'body-splice') {
      const field = resolve(op.body.schema).properties![v.field];
      const base = valid[v.field] ?? validValue(field, v.field);
      const text = typeof base === 'string' ? base : JSON.stringify(base);
      const at = v.at % (text.length + 1);
      body = JSON.stringify({ ...valid, [v.field]: text.slice(0, at) + v.insert + text.slice(at) });
    }
    else if (v.kind === 'body-drop') {
      const copy = { ...valid };
      delete copy[resolve(op.body.schema).required![v.index]!];
      body = JSON.stringify(copy);
    } else if (v.kind === 'body-raw') body = v.raw;
    else if (v.kind === 'body-oversized') body = JSON.stringify({ ...valid, notes: 'x'.repeat(v.size) });
    else body = JSON.stringify(valid);
    headers['content-type'] = v.kind === 'body-raw' ? v.contentType : 'application/json';
    if (headers['content-type'] === '') delete headers['content-type'];
  }
  if (v.kind === 'header') headers[v.name] = v.value;
  return { path, init: { method: op.method, headers, ...(body !== undefined ? { body } : {}) } };
}

async function jobTotal(): Promise<number> {
  const counts = await stack.queues.commands.getJobCounts();
  return Object.values(counts).reduce((s, n) => s + n, 0);
}

/** Sends one request as `user` (or with the given Authorization) and checks the properties. */
async function sendAndCheck(label: string, path: string, init: { method: string; headers: Record<string, string>; body?: string }, auth: string | null) {
  const before = await jobTotal();
  const headers = { ...init.headers };
  if (auth !== null) headers.authorization = auth;
  const res = await stack.app.request(path, { ...init, headers });
  const text = await res.text();
  tally.requests++;
  tally.byStatus.set(res.status, (tally.byStatus.get(res.status) ?? 0) + 1);
  if (res.status >= 500) tally.status5xx++;
  else if (res.status >= 400) tally.status4xx++;
  else tally.status2xx++;
  const where = `${label}: ${init.method} ${path.slice(0, 200)} ${JSON.stringify(init.headers).slice(0, 200)} ${String(init.body).slice(0, 200)} → ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status >= 400) {
    let parsed: TestResponse['body'];
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
    expect(Object.keys(parsed ?? {}), where).toEqual(['error']);
    expect(parsed.error, where).toEqual(expect.objectContaining({ code: expect.any(String), message: expect.stringMatching(/\S/) }));
    for (const key of Object.keys(parsed.error)) expect(['code', 'message', 'details'], where).toContain(key);
    expect(await jobTotal(), `${where}: a refused request enqueued a job`).toBe(before);
  } else {
    expect(res.status, where).toBeGreaterThanOrEqual(200);
  }
}

describe('hostile input on every route of the OpenAPI document', () => {
  it('the document lists the API routes', () => {
    expect(operations.length).toBeGreaterThanOrEqual(30);
    for (const op of operations) expect(op.path).toMatch(/^\/api\/v1\//);
  });

  it('bodies, query strings, path parameters and headers: never 5xx; refusals are 4xx envelopes that enqueue nothing', async () => {
    const adminToken = `Bearer ${await tokenFor(admin)}`;
    const memberToken = `Bearer ${await tokenFor(member)}`;
    const before5xx = tally.status5xx;
    try {
      for (const op of operations) {
        await fc.assert(
          fc.asyncProperty(variants(op), fc.boolean(), async (v, asAdmin) => {
            const { path, init } = build(op, v);
            await sendAndCheck(`${op.method} ${op.path} [${v.kind}]`, path, init, asAdmin ? adminToken : memberToken);
          }),
          { numRuns: RUNS_PER_TARGET * (op.body ? 2 : 1), endOnFailure: true },
        );
      }
    } finally {
      recordSummary({
        scenario: '5. hostile input (fast-check, every route)',
        commands: tally.requests,
        faults: `${operations.length} routes × fuzzed body/query/path/headers`,
        lost: 0,
        duplicated: 0,
        serverErrors: tally.status5xx - before5xx,
        notes: `answers: ${[...tally.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(', ')}; every 4xx an envelope, none enqueued`,
      });
    }
    expect(tally.status4xx).toBeGreaterThan(tally.status2xx);
    // What the API did accept, the worker applied or refused with a domain code: no accepted input crashes a job.
    await until('the fuzzed commands to be processed', async () => (await unfinishedJobs(stack.queues.commands)) === 0, 60_000, 100);
    const crashed = await stack.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string; name: string }[]>(`select id, name from processed_commands where outcome = 'failed' and error->>'code' in ('internal_error', 'invalid_payload')`);
    expect(crashed).toEqual([]);
    const failed = await stack.queues.commands.getJobs(['failed'], 0, -1);
    for (const job of failed) expect(job.failedReason, `${job.name} ${JSON.stringify(job.data).slice(0, 300)}`).toMatch(/^[a-z_]+: /);
  });

  it('every body field and query parameter of every route × a catalogue of classic hostile values: never 5xx', async () => {
    const token = `Bearer ${await tokenFor(admin)}`;
    const before = tally.requests;
    const before5xx = tally.status5xx;
    const failures: string[] = [];
    const check = async (label: string, path: string, init: { method: string; headers: Record<string, string>; body?: string }) => {
      try {
        await sendAndCheck(label, path, init, token);
      } catch (e) {
        if (failures.length < 20) failures.push((e as Error).message.split('\n')[0]!);
      }
    };
    for (const op of operations) {
      const bodySchema = op.body ? resolve(op.body.schema) : undefined;
      for (const [field, schema] of Object.entries(bodySchema?.properties ?? {})) {
        for (const value of catalogue(schema, field)) {
          const { path, init } = build(op, { kind: 'body-field', field, value });
          await check(`${op.method} ${op.path} body.${field}`, path, init);
        }
      }
      for (const p of op.parameters.filter((p) => p.in === 'query')) {
        for (const value of catalogue(p.schema, p.name)) {
          const { path, init } = build(op, { kind: 'query', param: p.name, value: typeof value === 'string' ? value : (JSON.stringify(value) ?? '') });
          await check(`${op.method} ${op.path} query.${p.name}`, path, init);
        }
      }
    }
    recordSummary({
      scenario: '5a. hostile input: catalogue sweep (every field × classic values)',
      commands: tally.requests - before,
      faults: 'each body field and query parameter replaced by each catalogue value',
      lost: 0,
      duplicated: 0,
      serverErrors: tally.status5xx - before5xx,
      notes: 'NUL, lone surrogates, year 0000/9999 and ±14:00 offsets, invalid zones, 2^53, 1e308, wrong types',
    });
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('credentials: garbage, forged and hostile tokens are 401 (or accepted when validly signed), never 5xx', async () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const claims = fc.record(
      {
        sub: fc.oneof(fc.uuid().map(String), hostileString),
        email: fc.oneof(fc.constant('fuzz@example.com'), hostileString),
        name: fc.oneof(fc.constant('Fuzz'), hostileString),
        role: fc.oneof(fc.constantFrom('member', 'staff', 'admin'), hostileValue),
        exp: fc.oneof(fc.constant(Math.floor(Date.now() / 1000) + 3600), hostileNumber),
        nbf: hostileNumber,
      },
      { requiredKeys: [] },
    );
    const authorization = fc.oneof(
      latin1,
      latin1.map((s) => `Bearer ${s}`),
      fc.tuple(fc.jsonValue(), fc.jsonValue(), latin1).map(([h, p, s]) => `Bearer ${b64(h)}.${b64(p)}.${b64(s)}`),
      claims.map((c) => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(c)}.`),
      // Validly signed tokens with hostile claims: refused by the claims check, or accepted if they happen to be valid.
      claims.map((c) => ({ c })),
    );
    const targets = operations.filter((o) => !o.body || o.method === 'POST').slice(0, 12);
    const before5xx = tally.status5xx;
    try {
      await fc.assert(
        fc.asyncProperty(authorization, fc.constantFrom(...targets), async (auth, op) => {
          const header = typeof auth === 'string' ? auth : `Bearer ${await tokenFor(member, { claims: auth.c })}`;
          const { path, init } = build(op, { kind: 'header', name: 'x-request-id', value: 'fuzz' });
          await sendAndCheck(`auth ${op.method} ${op.path}`, path, init, header);
        }),
        { numRuns: 300, endOnFailure: true },
      );
    } finally {
      recordSummary({
        scenario: '5b. hostile credentials (fast-check)',
        commands: 300,
        faults: 'garbage, alg:none and hostile-claim tokens',
        lost: 0,
        duplicated: 0,
        serverErrors: tally.status5xx - before5xx,
        notes: 'refused with 401 in the envelope unless validly signed with valid claims',
      });
    }
    expect(tally.requests).toBeGreaterThan(300);
  });
});

