import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addItem } from '../helpers/cart.js';
import { act, admin, createBooking, hourlySlot, startingSoon, waitForJob } from '../helpers/factories.js';
import { until } from '../helpers/follow-ups.js';
import { makeUser, startStack, TEST_JWT_SECRET, tokenFor, type Stack, type TestResponse, type TestUser } from '../helpers/stack.js';
import { recordSummary } from './helpers/summary.js';

/**
 * Scenario 6: the authorization matrix. For every route of the OpenAPI document × caller (anonymous, member A,
 * member B, staff, admin) × owner of the resource the route names (member A, or staff), the outcome is exactly what
 * the contract (DESIGN.md, README) says. A route without an expectation here fails the test, so new routes must be
 * classified. Outcomes: `ok` (2xx, and for a command a job not refused as forbidden/not_found), `sees` / `hidden`
 * (a list that does / does not show the owner's resource), 401, 403, 404, or `job:forbidden` / `job:not_found`
 * (accepted, then refused by the worker: no route expects it, every refusal the API can know of comes before the 202).
 */

type Outcome = 'ok' | 'sees' | 'hidden' | 401 | 403 | 404 | 'job:forbidden' | 'job:not_found' | `status ${number}`;
type Caller = TestUser | null;
const isStaff = (u: TestUser) => u.role === 'staff' || u.role === 'admin';

/** Who may do what: the contract's rules, as functions of caller and owner (anonymous is always 401). */
const rule = {
  any: (): Outcome => 'ok',
  admin: (u: TestUser): Outcome => (u.role === 'admin' ? 'ok' : 403),
  staff: (u: TestUser): Outcome => (isStaff(u) ? 'ok' : 403),
  /** Owner or staff; anyone else learns nothing (404, like a missing resource). */
  ownerOrStaff: (u: TestUser, o: TestUser): Outcome => (u.id === o.id || isStaff(u) ? 'ok' : 404),
  /** Owner or staff when the request names the owner (`userId`); a member naming someone else is refused (403). */
  ownerOrStaffNamed: (u: TestUser, o: TestUser): Outcome => (u.id === o.id || isStaff(u) ? 'ok' : 403),
  /** Own only: nobody else, whatever the role (404). */
  ownerOnly: (u: TestUser, o: TestUser): Outcome => (u.id === o.id ? 'ok' : 404),
  /** Reviews: the owner; another member 404 (the booking is hidden); staff and admin see it but may not review it (403). */
  reviewer: (u: TestUser, o: TestUser): Outcome => (u.id === o.id ? 'ok' : isStaff(u) ? 403 : 404),
  listOwnerOrStaff: (u: TestUser, o: TestUser): Outcome => (u.id === o.id || isStaff(u) ? 'sees' : 'hidden'),
  listOwnerOnly: (u: TestUser, o: TestUser): Outcome => (u.id === o.id ? 'sees' : 'hidden'),
};

interface Request {
  method: string;
  path: string;
  body?: unknown;
  /** For lists: does the answer show the owner's resource? */
  sees?: (body: any) => boolean;
}
interface Case {
  label: string;
  expect: (caller: TestUser, owner: TestUser) => Outcome;
  /** Builds the request, creating the owner's resource first when the route names one. */
  make: (owner: TestUser) => Promise<Request>;
  /** false: the route names no resource of anyone (one owner is enough). */
  owned?: boolean;
}

let stack: Stack;
let workspaceId: string;
let spaceId: string;
let webhookId: string;
const memberA = makeUser('member', 'alice');
const memberB = makeUser('member', 'bob');
const staff = makeUser('staff', 'sam');
const callers: [string, Caller][] = [
  ['anonymous', null],
  ['member A', memberA],
  ['member B', memberB],
  ['staff', staff],
  ['admin', admin],
];
const owners: [string, TestUser][] = [
  ['member A', memberA],
  ['staff', staff],
];

let slotCounter = 0;
const nextSlot = () => hourlySlot(100 + slotCounter++ * 2);

async function newSpace(): Promise<string> {
  const res = await stack.request('POST', `/api/v1/workspaces/${workspaceId}/spaces`, {
    as: admin,
    body: { name: `Room ${slotCounter++}`, kind: 'meeting_room', capacity: 6, hourlyRate: 1500, dailyRate: 9000, monthlyRate: 150000 },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** A pending booking of `owner`; returns its id and the id of the job that created it. */
async function bookingOf(owner: TestUser) {
  const res = await createBooking(stack, owner, spaceId, nextSlot());
  expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
  return { bookingId: res.body.result.bookingId as string, jobId: res.body.id as string };
}

/** A completed booking of `owner` (created, confirmed, checked in, checked out), for reviews. */
async function completedBookingOf(owner: TestUser) {
  const res = await createBooking(stack, owner, await newSpace(), await startingSoon(1));
  expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
  const id: string = res.body.result.bookingId;
  for (const [as, action] of [[staff, 'confirm'], [owner, 'check-in'], [owner, 'check-out']] as const)
    expect((await act(stack, as, id, action)).body, action).toMatchObject({ state: 'completed' });
  return id;
}

async function cartItemOf(owner: TestUser) {
  const res = await addItem(stack, owner, spaceId, nextSlot());
  expect(res.body, JSON.stringify(res.body)).toMatchObject({ state: 'completed' });
  return res.body.result.itemId as string;
}

async function notificationOf(owner: TestUser) {
  const { bookingId } = await bookingOf(owner);
  const rows = await until('the booking notification', async () => {
    const r = await stack.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string }[]>(`select id from notifications where user_id = ? and data->>'bookingId' = ?`, [owner.id, bookingId]);
    return r.length ? r : null;
  });
  return rows[0]!.id;
}

const v1 = '/api/v1';
const items = (body: any) => (body?.items ?? []) as { id: string }[];

/** The matrix: every route of the OpenAPI document, keyed `METHOD path` as the document writes it. */
const matrix: Record<string, Case[]> = {
  'POST /api/v1/workspaces': [
    { label: 'create', owned: false, expect: rule.admin, make: async () => ({ method: 'POST', path: `${v1}/workspaces`, body: { name: 'Matrix', timezone: 'UTC', currency: 'EUR', taxRateBps: 0 } }) },
  ],
  'GET /api/v1/workspaces': [{ label: 'list', owned: false, expect: rule.any, make: async () => ({ method: 'GET', path: `${v1}/workspaces` }) }],
  'GET /api/v1/workspaces/{id}': [{ label: 'read', owned: false, expect: rule.any, make: async () => ({ method: 'GET', path: `${v1}/workspaces/${workspaceId}` }) }],
  'PATCH /api/v1/workspaces/{id}': [
    { label: 'change', owned: false, expect: rule.admin, make: async () => ({ method: 'PATCH', path: `${v1}/workspaces/${workspaceId}`, body: { name: 'Matrix Hub' } }) },
  ],
  'PATCH /api/v1/spaces/{id}': [
    { label: 'change', owned: false, expect: rule.admin, make: async () => ({ method: 'PATCH', path: `${v1}/spaces/${spaceId}`, body: { name: 'Matrix Room' } }) },
  ],
  'POST /api/v1/workspaces/{id}/spaces': [
    {
      label: 'create',
      owned: false,
      expect: rule.admin,
      make: async () => ({
        method: 'POST',
        path: `${v1}/workspaces/${workspaceId}/spaces`,
        body: { name: 'Booth', kind: 'desk', capacity: 1, hourlyRate: 100, dailyRate: 500, monthlyRate: 9000 },
      }),
    },
  ],
  'GET /api/v1/workspaces/{id}/spaces': [{ label: 'list', owned: false, expect: rule.any, make: async () => ({ method: 'GET', path: `${v1}/workspaces/${workspaceId}/spaces` }) }],
  'GET /api/v1/spaces/{id}': [{ label: 'read', owned: false, expect: rule.any, make: async () => ({ method: 'GET', path: `${v1}/spaces/${spaceId}` }) }],
  'GET /api/v1/spaces/{id}/availability': [
    {
      label: 'read',
      owned: false,
      expect: rule.any,
      make: async () => {
        const w = hourlySlot(24, 48);
        return { method: 'GET', path: `${v1}/spaces/${spaceId}/availability?from=${encodeURIComponent(w.startsAt)}&to=${encodeURIComponent(w.endsAt)}` };
      },
    },
  ],
  'POST /api/v1/booking/bookings': [
    { label: 'create', owned: false, expect: rule.any, make: async () => ({ method: 'POST', path: `${v1}/booking/bookings`, body: { spaceId, bookingType: 'hourly', ...nextSlot() } }) },
  ],
  'GET /api/v1/booking/bookings': [
    {
      label: "list shows the owner's booking",
      expect: rule.listOwnerOrStaff,
      make: async (o) => {
        const { bookingId } = await bookingOf(o);
        return { method: 'GET', path: `${v1}/booking/bookings?pageSize=100&spaceId=${spaceId}`, sees: (b) => items(b).some((i) => i.id === bookingId) };
      },
    },
    {
      label: "?userId=owner: the owner's bookings",
      expect: rule.ownerOrStaffNamed,
      make: async (o) => {
        await bookingOf(o);
        return { method: 'GET', path: `${v1}/booking/bookings?userId=${o.id}` };
      },
    },
  ],
  'GET /api/v1/booking/bookings/{id}': [
    { label: 'read', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'GET', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}` }) },
  ],
  'PATCH /api/v1/booking/bookings/{id}': [
    { label: 'edit', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'PATCH', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}`, body: { notes: 'matrix' } }) },
  ],
  'DELETE /api/v1/booking/bookings/{id}': [
    { label: 'delete', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'DELETE', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}` }) },
  ],
  'POST /api/v1/booking/bookings/{id}/cancel': [
    { label: 'cancel', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'POST', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}/cancel`, body: { reason: 'matrix' } }) },
  ],
  'POST /api/v1/booking/bookings/{id}/confirm': [
    { label: 'confirm', expect: rule.staff, make: async (o) => ({ method: 'POST', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}/confirm` }) },
  ],
  'POST /api/v1/booking/bookings/{id}/check-in': [
    { label: 'check in', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'POST', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}/check-in` }) },
  ],
  'POST /api/v1/booking/bookings/{id}/check-out': [
    { label: 'check out', expect: rule.ownerOrStaff, make: async (o) => ({ method: 'POST', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}/check-out` }) },
  ],
  'POST /api/v1/booking/bookings/{id}/complete': [
    { label: 'complete', expect: rule.staff, make: async (o) => ({ method: 'POST', path: `${v1}/booking/bookings/${(await bookingOf(o)).bookingId}/complete` }) },
  ],
  'GET /api/v1/booking/cart': [
    {
      label: "own cart shows only one's own item",
      expect: rule.listOwnerOnly,
      make: async (o) => {
        const itemId = await cartItemOf(o);
        return { method: 'GET', path: `${v1}/booking/cart`, sees: (b) => items(b).some((i) => i.id === itemId) };
      },
    },
    {
      label: "?userId=owner: the owner's cart",
      expect: rule.ownerOrStaffNamed,
      make: async (o) => ({ method: 'GET', path: `${v1}/booking/cart?userId=${o.id}` }),
    },
  ],
  'POST /api/v1/booking/cart/add-item': [
    { label: 'hold', owned: false, expect: rule.any, make: async () => ({ method: 'POST', path: `${v1}/booking/cart/add-item`, body: { spaceId, bookingType: 'hourly', ...nextSlot() } }) },
  ],
  'POST /api/v1/booking/cart/remove-item': [
    { label: "the owner's item (own cart)", expect: rule.ownerOnly, make: async (o) => ({ method: 'POST', path: `${v1}/booking/cart/remove-item`, body: { itemId: await cartItemOf(o) } }) },
    {
      label: "the owner's item, naming the owner",
      expect: rule.ownerOrStaffNamed,
      make: async (o) => ({ method: 'POST', path: `${v1}/booking/cart/remove-item`, body: { itemId: await cartItemOf(o), userId: o.id } }),
    },
  ],
  'POST /api/v1/booking/cart/clear': [
    { label: 'own cart', owned: false, expect: rule.any, make: async () => ({ method: 'POST', path: `${v1}/booking/cart/clear` }) },
    {
      label: "the owner's cart, naming the owner",
      expect: rule.ownerOrStaffNamed,
      make: async (o) => {
        await cartItemOf(o);
        return { method: 'POST', path: `${v1}/booking/cart/clear`, body: { userId: o.id } };
      },
    },
  ],
  'POST /api/v1/booking/cart/checkout': [{ label: 'own cart', owned: false, expect: rule.any, make: async () => ({ method: 'POST', path: `${v1}/booking/cart/checkout` }) }],
  'POST /api/v1/booking/reviews': [
    {
      label: "review the owner's completed booking",
      expect: rule.reviewer,
      make: async (o) => ({ method: 'POST', path: `${v1}/booking/reviews`, body: { bookingId: await completedBookingOf(o), rating: 5 } }),
    },
  ],
  'GET /api/v1/booking/reviews': [{ label: 'list', owned: false, expect: rule.any, make: async () => ({ method: 'GET', path: `${v1}/booking/reviews?spaceId=${spaceId}` }) }],
  'POST /api/v1/workspaces/{id}/promo-codes': [
    {
      label: 'create',
      owned: false,
      expect: rule.admin,
      make: async () => ({ method: 'POST', path: `${v1}/workspaces/${workspaceId}/promo-codes`, body: { code: `MX${slotCounter++}`, discountType: 'percent', discountValue: 10 } }),
    },
  ],
  'GET /api/v1/workspaces/{id}/promo-codes': [{ label: 'list', owned: false, expect: rule.staff, make: async () => ({ method: 'GET', path: `${v1}/workspaces/${workspaceId}/promo-codes` }) }],
  'GET /api/v1/jobs/{jobId}': [{ label: "the owner's job", expect: rule.ownerOrStaff, make: async (o) => ({ method: 'GET', path: `${v1}/jobs/${(await bookingOf(o)).jobId}` }) }],
  'GET /api/v1/notifications': [
    {
      label: "list shows the owner's notification",
      expect: rule.listOwnerOnly,
      make: async (o) => {
        const id = await notificationOf(o);
        return { method: 'GET', path: `${v1}/notifications?pageSize=100`, sees: (b) => items(b).some((i) => i.id === id) };
      },
    },
  ],
  'POST /api/v1/notifications/{id}/read': [{ label: 'mark read', expect: rule.ownerOnly, make: async (o) => ({ method: 'POST', path: `${v1}/notifications/${await notificationOf(o)}/read` }) }],
  // Anyone's own; that it leaves others' alone is tested in follow-ups.test.ts.
  'PATCH /api/v1/notifications': [{ label: 'mark all mine read', owned: false, expect: rule.any, make: async () => ({ method: 'PATCH', path: `${v1}/notifications`, body: { read: true } }) }],
  'POST /api/v1/workspaces/{id}/webhooks': [
    {
      label: 'register',
      owned: false,
      expect: rule.admin,
      make: async () => ({
        method: 'POST',
        path: `${v1}/workspaces/${workspaceId}/webhooks`,
        body: { url: 'https://example.com/matrix', secret: 'matrix-secret-0123456789', eventTypes: ['BOOKING_CREATED'] },
      }),
    },
  ],
  'GET /api/v1/workspaces/{id}/webhooks': [{ label: 'list', owned: false, expect: rule.admin, make: async () => ({ method: 'GET', path: `${v1}/workspaces/${workspaceId}/webhooks` }) }],
  'GET /api/v1/webhooks/{id}/deliveries': [{ label: 'list', owned: false, expect: rule.admin, make: async () => ({ method: 'GET', path: `${v1}/webhooks/${webhookId}/deliveries` }) }],
};

let routes: string[] = [];

beforeAll(async () => {
  stack = await startStack({ notifications: true });
  const ws = await stack.request('POST', `${v1}/workspaces`, { as: admin, body: { name: 'Matrix Hub', timezone: 'UTC', currency: 'EUR', taxRateBps: 1900 } });
  expect(ws.status).toBe(201);
  workspaceId = ws.body.id;
  spaceId = await newSpace();
  const hook = await stack.request('POST', `${v1}/workspaces/${workspaceId}/webhooks`, {
    as: admin,
    body: { url: 'https://example.com/hooks', secret: 'matrix-secret-0123456789', eventTypes: ['BOOKING_CONFIRMED'] },
  });
  expect(hook.status).toBe(201);
  webhookId = hook.body.id;
  const doc = (await stack.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
});
afterAll(() => stack?.close());

async function jobTotal(): Promise<number> {
  const counts = await stack.queues.commands.getJobCounts();
  return Object.values(counts).reduce((s, n) => s + n, 0);
}

/** What the caller got, in the matrix's terms. */
async function observe(res: TestResponse, req: Request): Promise<Outcome> {
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    const code = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' }[res.status];
    if (res.body?.error?.code !== code) return `status ${res.status}`;
    return res.status;
  }
  if (res.status < 200 || res.status >= 300) return `status ${res.status}`;
  let body = res.body;
  // A command still running after Prefer: wait: follow it to the end (staff may read any job).
  if (res.status === 202 && body?.jobId) body = await waitForJob(stack, staff, body.jobId, 30_000);
  if (body?.state === 'failed' && (body.error?.code === 'forbidden' || body.error?.code === 'not_found')) return `job:${body.error.code}` as Outcome;
  if (req.sees) return req.sees(body) ? 'sees' : 'hidden';
  return 'ok';
}

describe('authorization matrix: every route × caller × owner', () => {
  it('every route of the OpenAPI document has an expectation (new routes must be classified here)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(30);
    const apiRoutes = routes.filter((r) => r.split(' ')[1]!.startsWith('/api/v1/'));
    expect(apiRoutes.filter((r) => !matrix[r]), 'routes without an entry in the matrix').toEqual([]);
    expect(Object.keys(matrix).filter((r) => !routes.includes(r)), 'matrix entries for routes that no longer exist').toEqual([]);
  });

  it('the allowed set is exactly what the contract says; refusals enqueue nothing', async () => {
    const mismatches: string[] = [];
    let cells = 0;
    for (const [route, cases] of Object.entries(matrix)) {
      for (const c of cases) {
        for (const [ownerName, owner] of c.owned === false ? [owners[0]!] : owners) {
          for (const [callerName, caller] of callers) {
            const req = await c.make(owner);
            const before = await jobTotal();
            const res = await stack.request(req.method, req.path, { as: caller, wait: 10, ...(req.body !== undefined ? { body: req.body } : {}) });
            const got = await observe(res, req);
            const want: Outcome = caller === null ? 401 : c.expect(caller, owner);
            cells++;
            const where = `${route} [${c.label}] owner=${ownerName} caller=${callerName}`;
            if (got !== want) mismatches.push(`${where}: expected ${want}, got ${got} ${JSON.stringify(res.body).slice(0, 200)}`);
            if (typeof got === 'number' && (await jobTotal()) !== before) mismatches.push(`${where}: refused with ${got} but enqueued a job`);
          }
        }
      }
    }
    recordSummary({
      scenario: '6. authorization matrix',
      commands: cells,
      faults: `${Object.keys(matrix).length} routes × 5 callers × owners (member A, staff)`,
      lost: 0,
      duplicated: 0,
      serverErrors: 0,
      notes: `${mismatches.length} cells differ from the contract`,
    });
    expect(mismatches, mismatches.join('\n')).toEqual([]);
    expect(cells).toBeGreaterThan(200);
  });

  it('tokens with a wrong signature, alg none, or expired → 401 on every route', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const claims = { sub: staff.id, email: staff.email, name: staff.name, role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 };
    const tokens: [string, string][] = [
      ['wrong signature', await sign(claims, 'another-secret-0123456789abcdef0123', 'HS256')],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
      ['expired', await tokenFor(admin, { expiresInSeconds: -5 })],
      ['right secret, other algorithm', await sign(claims, TEST_JWT_SECRET, 'HS384')],
    ];
    const failures: string[] = [];
    for (const [route, cases] of Object.entries(matrix)) {
      const req = await cases[0]!.make(memberA);
      for (const [name, token] of tokens) {
        const before = await jobTotal();
        const res = await stack.request(req.method, req.path, { token, ...(req.body !== undefined ? { body: req.body } : {}) });
        if (res.status !== 401 || res.body?.error?.code !== 'unauthorized') failures.push(`${route} with ${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
        if ((await jobTotal()) !== before) failures.push(`${route} with ${name}: enqueued a job`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });
});
