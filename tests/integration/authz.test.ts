import { sign } from 'hono/jwt';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { act, admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, TEST_JWT_SECRET, tokenFor, type RequestOpts, type Stack, type TestResponse, type TestUser } from '../helpers/stack.js';

/** The role matrix of DESIGN.md: who may call what, and what a refused caller gets to see (nothing). */

let stack: Stack;
let spaceId: string;
let workspaceId: string;
const memberA = makeUser('member', 'alice');
const memberB = makeUser('member', 'bob');
const staff = makeUser('staff');

/** A's pending booking (with private notes) and the job that created it. */
let aBookingId: string;
let aJobId: string;
const A_NOTES = 'alice private notes: door code 4711';

beforeAll(async () => {
  stack = await startStack();
  const seeded = await seedSpace(stack);
  spaceId = seeded.space.id;
  workspaceId = seeded.workspace.id;
  const created = await createBooking(stack, memberA, spaceId, hourlySlot(24), { notes: A_NOTES });
  expect(created.body, JSON.stringify(created.body)).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  aBookingId = created.body.result.bookingId;
  aJobId = created.body.id;
});
afterAll(() => stack?.close());

// ---- helpers ----

async function queuedTotal(): Promise<number> {
  const counts = await stack.queues.commands.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  return stack.orm.em.fork().getConnection().execute<T[]>(query, params);
}

async function rowCounts() {
  const [row] = await sql<Record<string, number>>(
    `select (select count(*) from bookings)::int as bookings, (select count(*) from workspaces)::int as workspaces,
            (select count(*) from spaces)::int as spaces, (select count(*) from users)::int as users,
            (select count(*) from processed_commands)::int as commands`,
  );
  return row!;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: string;
  created_at: Date | string;
  updated_at: Date | string;
}
const userRow = async (id: string) => (await sql<UserRow>('select * from users where id = ?', [id]))[0];

async function bookingRow(id: string) {
  const [row] = await sql<{ status: string; notes: string | null; version: number; cancelled_at: Date | null }>(
    'select status, notes, version, cancelled_at from bookings where id = ?',
    [id],
  );
  return row;
}

/** Runs a refused request and checks the envelope and that nothing was enqueued or written. */
async function expectRefused(send: () => Promise<TestResponse>, status: number, code: string, opts: { userRowsMayGrow?: boolean } = {}) {
  const jobsBefore = await queuedTotal();
  const rowsBefore = await rowCounts();
  const res = await send();
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(res.body.error).toEqual({ code, message: expect.stringMatching(/\S/) });
  expect(await queuedTotal()).toBe(jobsBefore);
  const rowsAfter = await rowCounts();
  // A 403/404 comes after authentication, which upserts the (valid) caller; nothing else may change.
  if (opts.userRowsMayGrow) rowsAfter.users = rowsBefore.users;
  expect(rowsAfter).toEqual(rowsBefore);
  return res;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsOf = (u: TestUser, over: Record<string, unknown> = {}) => ({
  sub: u.id,
  email: u.email,
  name: u.name,
  role: u.role,
  exp: Math.floor(Date.now() / 1000) + 3600,
  ...over,
});

// ---- 401 ----

type Credentials = { token?: string; headers?: Record<string, string> };

/** Each case builds its credentials for a fresh user (so we can check that user was never upserted). */
const badCredentials: [string, (u: TestUser) => Promise<Credentials>][] = [
  ['no Authorization header', async () => ({})],
  ['a Basic scheme', async () => ({ headers: { authorization: 'Basic ' + Buffer.from('alice:secret').toString('base64') } })],
  ['an empty Bearer', async () => ({ headers: { authorization: 'Bearer ' } })],
  ['a valid token without the Bearer scheme', async (u) => ({ headers: { authorization: await tokenFor(u) } })],
  ['a garbage token', async () => ({ token: 'not-a-jwt' })],
  ['three garbage segments', async () => ({ token: 'aaa.bbb.ccc' })],
  ['a token signed with another secret', async (u) => ({ token: await tokenFor(u, { secret: 'another-secret-0123456789abcdef012345' }) })],
  ['an expired token', async (u) => ({ token: await tokenFor(u, { expiresInSeconds: -60 }) })],
  ['a token not valid before an hour from now', async (u) => ({ token: await tokenFor(u, { claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } }) })],
  ['an alg:none token', async (u) => ({ token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsOf(u))}.` })],
  [
    'an alg:none token carrying a real signature',
    async (u) => {
      const real = (await tokenFor(u)).split('.')[2];
      return { token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsOf(u))}.${real}` };
    },
  ],
  ['an HS512 token signed with the right secret', async (u) => ({ token: await sign(claimsOf(u), TEST_JWT_SECRET, 'HS512') })],
  [
    'a tampered payload (member re-labelled admin, old signature)',
    async (u) => {
      const [header, , signature] = (await tokenFor({ ...u, role: 'member' })).split('.');
      return { token: `${header}.${b64url(claimsOf(u, { role: 'admin' }))}.${signature}` };
    },
  ],
  ['a token without role', async (u) => ({ token: await tokenFor(u, { claims: { role: undefined } }) })],
  ["a token with role 'root'", async (u) => ({ token: await tokenFor(u, { claims: { role: 'root' } }) })],
  ['a token with a non-uuid sub', async (u) => ({ token: await tokenFor(u, { claims: { sub: 'user-42' } }) })],
  ['a token without sub', async (u) => ({ token: await tokenFor(u, { claims: { sub: undefined } }) })],
  ['a token without exp', async (u) => ({ token: await tokenFor(u, { claims: { exp: undefined } }) })],
  ['a token whose email is not an email', async (u) => ({ token: await tokenFor(u, { claims: { email: 'alice' } }) })],
  ['a token whose name holds a NUL character', async (u) => ({ token: await tokenFor(u, { claims: { name: 'Al\u0000ice' } }) })],
  ['a token whose name holds an unpaired surrogate', async (u) => ({ token: await tokenFor(u, { claims: { name: 'Al\ud800ice' } }) })],
];

describe('authentication: every bad credential → 401 unauthorized on every route, nothing enqueued, no user written', () => {
  const routes: [string, string, () => string, unknown?][] = [
    ['GET', 'workspaces', () => '/api/v1/workspaces'],
    ['POST', 'workspaces', () => '/api/v1/workspaces', { name: 'Evil', timezone: 'UTC', currency: 'EUR', taxRateBps: 0 }],
    ['POST', 'spaces', () => `/api/v1/workspaces/${workspaceId}/spaces`, { name: 'Evil', kind: 'desk', capacity: 1, hourlyRate: 0, dailyRate: 0, monthlyRate: 0 }],
    ['POST', 'create booking', () => '/api/v1/booking/bookings', undefined],
    ['GET', 'list bookings', () => '/api/v1/booking/bookings'],
    ['GET', "A's booking", () => `/api/v1/booking/bookings/${aBookingId}`],
    ['POST', "cancel A's booking", () => `/api/v1/booking/bookings/${aBookingId}/cancel`, { reason: 'evil' }],
    ['POST', "confirm A's booking", () => `/api/v1/booking/bookings/${aBookingId}/confirm`],
    ['DELETE', "A's booking", () => `/api/v1/booking/bookings/${aBookingId}`],
    ['GET', "A's job", () => `/api/v1/jobs/${aJobId}`],
  ];

  it.each(badCredentials)('%s', async (_name, credentials) => {
    const forged = makeUser('admin');
    const creds = await credentials(forged);
    for (const [method, label, path, body] of routes) {
      const payload = label === 'create booking' ? { spaceId, bookingType: 'hourly', ...hourlySlot(30) } : body;
      const opts: RequestOpts = { ...creds, ...(payload !== undefined ? { body: payload } : {}) };
      const res = await expectRefused(() => stack.request(method, path(), opts), 401, 'unauthorized');
      expect(JSON.stringify(res.body), `${method} ${label}`).not.toContain(A_NOTES);
    }
    expect(await userRow(forged.id)).toBeUndefined();
    expect(await bookingRow(aBookingId)).toMatchObject({ status: 'pending', notes: A_NOTES, version: 1 });
  });

  it('authentication comes before validation: an invalid body without a token is 401, not 400', async () => {
    await expectRefused(() => stack.request('POST', '/api/v1/booking/bookings', { body: { nonsense: true } }), 401, 'unauthorized');
    await expectRefused(() => stack.request('GET', '/api/v1/booking/bookings/not-a-uuid'), 401, 'unauthorized');
  });

  it('the same routes accept a valid token (control)', async () => {
    expect((await stack.request('GET', '/api/v1/workspaces', { as: memberA })).status).toBe(200);
    expect((await stack.request('GET', `/api/v1/booking/bookings/${aBookingId}`, { as: memberA })).status).toBe(200);
    expect((await stack.request('GET', `/api/v1/jobs/${aJobId}`, { as: memberA })).status).toBe(200);
    // The scheme is case-insensitive.
    const lower = await stack.request('GET', '/api/v1/workspaces', { headers: { authorization: `bearer ${await tokenFor(memberA)}` } });
    expect(lower.status).toBe(200);
  });
});

// ---- 403: roles ----

describe('admin-only catalog writes', () => {
  const workspaceBody = { name: 'Rooftop', timezone: 'Europe/Lisbon', currency: 'EUR', taxRateBps: 2300 };
  const spaceBody = { name: 'Booth', kind: 'office', capacity: 2, hourlyRate: 800, dailyRate: 4000, monthlyRate: 60000 };

  it.each([
    ['member', makeUser('member')],
    ['staff', makeUser('staff')],
  ])('%s → 403 forbidden on POST /workspaces and POST /workspaces/:id/spaces, no row written', async (_role, user) => {
    const ws = await expectRefused(() => stack.request('POST', '/api/v1/workspaces', { as: user, body: workspaceBody }), 403, 'forbidden', { userRowsMayGrow: true });
    expect(ws.body.error.message).toMatch(/admin/);
    await expectRefused(() => stack.request('POST', `/api/v1/workspaces/${workspaceId}/spaces`, { as: user, body: spaceBody }), 403, 'forbidden', {
      userRowsMayGrow: true,
    });
    expect(await sql('select 1 from workspaces where name = ?', ['Rooftop'])).toEqual([]);
    expect(await sql('select 1 from spaces where name = ?', ['Booth'])).toEqual([]);
  });

  it('the role is checked before the body: a member sending an invalid body (or none) is 403, not 400', async () => {
    const member = makeUser('member');
    for (const body of [{}, { name: 7 }, undefined]) {
      const opts = { as: member, ...(body ? { body } : {}) };
      for (const path of ['/api/v1/workspaces', `/api/v1/workspaces/${workspaceId}/spaces`, `/api/v1/workspaces/${workspaceId}/promo-codes`, `/api/v1/workspaces/${workspaceId}/webhooks`]) {
        const res = await stack.request('POST', path, opts);
        expect(res.status, `${path} ${JSON.stringify(res.body)}`).toBe(403);
        expect(res.body.error.code).toBe('forbidden');
      }
    }
    // And before the path: a member naming a malformed or unknown workspace learns nothing about it.
    expect((await stack.request('POST', '/api/v1/workspaces/not-a-uuid/spaces', { as: member, body: spaceBody })).status).toBe(403);
    expect((await stack.request('GET', `/api/v1/workspaces/${randomUUID()}/webhooks`, { as: member })).status).toBe(403);
  });

  it('admin → 201 for both, and everyone can read the result', async () => {
    const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: workspaceBody });
    expect(ws.status, JSON.stringify(ws.body)).toBe(201);
    expect(ws.body).toMatchObject({ id: expect.any(String), ...workspaceBody });
    const space = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, { as: admin, body: spaceBody });
    expect(space.status, JSON.stringify(space.body)).toBe(201);
    expect(space.body).toMatchObject({ id: expect.any(String), workspaceId: ws.body.id, active: true, ...spaceBody });

    for (const reader of [memberB, staff]) {
      const w = await stack.request('GET', `/api/v1/workspaces/${ws.body.id}`, { as: reader });
      expect(w.status).toBe(200);
      expect(w.body).toMatchObject(workspaceBody);
      const spaces = await stack.request('GET', `/api/v1/workspaces/${ws.body.id}/spaces`, { as: reader });
      expect(spaces.body).toMatchObject({ total: 1, items: [{ id: space.body.id, name: 'Booth' }] });
      const s = await stack.request('GET', `/api/v1/spaces/${space.body.id}`, { as: reader });
      expect(s.body).toMatchObject({ id: space.body.id, capacity: 2 });
    }
  });
});

describe('staff-only confirm and complete', () => {
  it.each(['confirm', 'complete'])('a member gets 403 on /%s of their own booking, nothing enqueued, booking unchanged', async (action) => {
    for (const wait of [undefined, 5]) {
      const res = await expectRefused(
        () => stack.request('POST', `/api/v1/booking/bookings/${aBookingId}/${action}`, { as: memberA, ...(wait ? { wait } : {}) }),
        403,
        'forbidden',
      );
      expect(res.body.error.message).toMatch(/staff/);
    }
    expect(await bookingRow(aBookingId)).toMatchObject({ status: 'pending', version: 1 });
  });

  it('the role check comes before the headers: a member with a malformed Idempotency-Key is 403, not 400', async () => {
    const res = await stack.request('POST', `/api/v1/booking/bookings/${aBookingId}/confirm`, { as: memberA, headers: { 'idempotency-key': 'has spaces in it' } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });

  it('another member gets 403 too (the role check comes first)', async () => {
    await expectRefused(() => stack.request('POST', `/api/v1/booking/bookings/${aBookingId}/confirm`, { as: memberB }), 403, 'forbidden', {
      userRowsMayGrow: true,
    });
  });

  it('staff and admin may confirm', async () => {
    const u = makeUser('member');
    const first = (await createBooking(stack, u, spaceId, hourlySlot(60))).body.result.bookingId;
    const second = (await createBooking(stack, u, spaceId, hourlySlot(62))).body.result.bookingId;
    const byStaff = await act(stack, staff, first, 'confirm');
    expect(byStaff.body).toMatchObject({ state: 'completed', result: { bookingId: first, status: 'confirmed' } });
    const byAdmin = await act(stack, admin, second, 'confirm');
    expect(byAdmin.body).toMatchObject({ state: 'completed', result: { bookingId: second, status: 'confirmed' } });
    expect(await bookingRow(first)).toMatchObject({ status: 'confirmed' });
    expect(await bookingRow(second)).toMatchObject({ status: 'confirmed' });
  });
});

// ---- ownership ----

describe("member B and member A's booking", () => {
  /** B's answer for A's booking must look exactly like the answer for a booking that does not exist. */
  async function expectIndistinguishable(method: string, suffix: string, body?: unknown) {
    const unknownId = randomUUID();
    const opts: RequestOpts = { as: memberB, ...(body !== undefined ? { body } : {}) };
    const onA = await expectRefused(() => stack.request(method, `/api/v1/booking/bookings/${aBookingId}${suffix}`, opts), 404, 'not_found', {
      userRowsMayGrow: true,
    });
    const onNothing = await stack.request(method, `/api/v1/booking/bookings/${unknownId}${suffix}`, opts);
    expect(onNothing.status).toBe(404);
    expect(onA.body.error.message.replace(aBookingId, '<id>')).toBe(onNothing.body.error.message.replace(unknownId, '<id>'));
    const text = JSON.stringify(onA.body);
    for (const secret of [A_NOTES, memberA.id, memberA.email, memberA.name, aJobId]) expect(text).not.toContain(secret);
  }

  it.each([
    ['GET detail', 'GET', '', undefined],
    ['PATCH', 'PATCH', '', { notes: 'hijacked by bob' }],
    ['DELETE', 'DELETE', '', undefined],
    ['cancel', 'POST', '/cancel', { reason: 'bob says so' }],
    ['check-in', 'POST', '/check-in', undefined],
    ['check-out', 'POST', '/check-out', undefined],
  ] as [string, string, string, unknown][])('%s → 404, like an unknown booking; nothing enqueued', async (_name, method, suffix, body) => {
    await expectIndistinguishable(method, suffix, body);
    expect(await bookingRow(aBookingId)).toMatchObject({ status: 'pending', notes: A_NOTES, version: 1, cancelled_at: null });
  });

  it("B's list never contains A's bookings, whatever the filters; A's list never contains B's", async () => {
    const bBooking = (await createBooking(stack, memberB, spaceId, hourlySlot(80))).body.result.bookingId;
    const queries = [
      '',
      '?pageSize=100',
      `?spaceId=${spaceId}`,
      `?workspaceId=${workspaceId}`,
      '?status=pending&bookingType=hourly',
      `?spaceId=${spaceId}&workspaceId=${workspaceId}&status=pending&pageSize=100`,
    ];
    for (const q of queries) {
      const list = await stack.request('GET', `/api/v1/booking/bookings${q}`, { as: memberB });
      expect(list.status).toBe(200);
      expect(list.body.items.map((b: { id: string }) => b.id), q).toEqual([bBooking]);
      expect(list.body.total, q).toBe(1);
      expect(JSON.stringify(list.body)).not.toContain(memberA.id);
    }
    const aList = await stack.request('GET', '/api/v1/booking/bookings?pageSize=100', { as: memberA });
    const aIds = aList.body.items.map((b: { id: string }) => b.id);
    expect(aIds).toContain(aBookingId);
    expect(aIds).not.toContain(bBooking);
    expect(new Set(aList.body.items.map((b: { userId: string }) => b.userId))).toEqual(new Set([memberA.id]));
  });

  it("B cannot read A's job (404, like an unknown job); A can", async () => {
    const onA = await expectRefused(() => stack.request('GET', `/api/v1/jobs/${aJobId}`, { as: memberB }), 404, 'not_found', { userRowsMayGrow: true });
    const onNothing = await stack.request('GET', '/api/v1/jobs/no-such-job', { as: memberB });
    expect(onA.body.error.message.replace(aJobId, '<id>')).toBe(onNothing.body.error.message.replace('no-such-job', '<id>'));
    expect(JSON.stringify(onA.body)).not.toContain(aBookingId);
    const own = await stack.request('GET', `/api/v1/jobs/${aJobId}`, { as: memberA });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: aJobId, name: 'booking.create', state: 'completed', result: { bookingId: aBookingId } });
  });

  it("Idempotency-Keys are per user: B reusing A's key gets B's own job, not A's result and not 422", async () => {
    const key = `shared-${randomUUID()}`;
    const a = await stack.request('POST', '/api/v1/booking/bookings', {
      as: memberA,
      wait: 10,
      headers: { 'idempotency-key': key },
      body: { spaceId, bookingType: 'hourly', ...hourlySlot(90) },
    });
    expect(a.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    const b = await stack.request('POST', '/api/v1/booking/bookings', {
      as: memberB,
      wait: 10,
      headers: { 'idempotency-key': key },
      body: { spaceId, bookingType: 'hourly', ...hourlySlot(92) },
    });
    expect(b.status, JSON.stringify(b.body)).toBe(200);
    expect(b.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    expect(b.body.id).not.toBe(a.body.id);
    expect(b.body.result.bookingId).not.toBe(a.body.result.bookingId);
    const bDetail = await stack.request('GET', `/api/v1/booking/bookings/${b.body.result.bookingId}`, { as: memberB });
    expect(bDetail.body.userId).toBe(memberB.id);
  });

  it("staff can read A's booking and A's job, and cancel it", async () => {
    const detail = await stack.request('GET', `/api/v1/booking/bookings/${aBookingId}`, { as: staff });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: aBookingId, userId: memberA.id, notes: A_NOTES, status: 'pending' });
    const job = await stack.request('GET', `/api/v1/jobs/${aJobId}`, { as: staff });
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: aJobId, state: 'completed', result: { bookingId: aBookingId, status: 'pending' } });
    const all = await stack.request('GET', '/api/v1/booking/bookings?pageSize=100', { as: staff });
    expect(all.body.items.map((b: { id: string }) => b.id)).toContain(aBookingId);

    const cancelled = await act(stack, staff, aBookingId, 'cancel', { reason: 'space closed for maintenance' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'completed', result: { bookingId: aBookingId, status: 'cancelled' } });
    // A sees the change; the cancel job is the staff's, so A cannot read it.
    const seenByA = await stack.request('GET', `/api/v1/booking/bookings/${aBookingId}`, { as: memberA });
    expect(seenByA.body).toMatchObject({ status: 'cancelled', cancellationReason: 'space closed for maintenance', cancelledAt: expect.any(String) });
    expect((await stack.request('GET', `/api/v1/jobs/${cancelled.body.id}`, { as: memberA })).status).toBe(404);
    expect((await stack.request('GET', `/api/v1/jobs/${cancelled.body.id}`, { as: staff })).status).toBe(200);
  });
});

// ---- users from claims ----

describe('users are upserted from the token claims', () => {
  it('the first request creates the row with the claims; a changed name or email updates it', async () => {
    const u = makeUser('member', `carol-${randomUUID().slice(0, 6)}`);
    expect(await userRow(u.id)).toBeUndefined();
    expect((await stack.request('GET', '/api/v1/workspaces', { as: u })).status).toBe(200);
    const first = await userRow(u.id);
    expect(first).toMatchObject({ id: u.id, email: u.email, name: u.name, role: 'member' });

    // The same token again writes nothing new.
    await stack.request('GET', '/api/v1/workspaces', { as: u });
    expect(await userRow(u.id)).toEqual(first);

    const renamed = { ...u, name: 'Carol Renamed', email: `renamed-${u.email}` };
    expect((await stack.request('GET', '/api/v1/workspaces', { as: renamed })).status).toBe(200);
    const second = await userRow(u.id);
    expect(second).toMatchObject({ id: u.id, email: renamed.email, name: 'Carol Renamed', role: 'member' });
    expect(new Date(second!.created_at).getTime()).toBe(new Date(first!.created_at).getTime());
    expect(new Date(second!.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(first!.updated_at).getTime());
    expect(await sql('select 1 from users where id = ?', [u.id])).toHaveLength(1);
  });

  it('a role change in the token takes effect at once, both ways', async () => {
    const u = makeUser('member');
    const booking = (await createBooking(stack, makeUser('member'), spaceId, hourlySlot(110))).body.result.bookingId;
    await expectRefused(() => stack.request('POST', `/api/v1/booking/bookings/${booking}/confirm`, { as: u }), 403, 'forbidden', { userRowsMayGrow: true });
    expect(await userRow(u.id)).toMatchObject({ role: 'member' });

    const promoted = { ...u, role: 'staff' as const };
    const confirmed = await act(stack, promoted, booking, 'confirm');
    expect(confirmed.body).toMatchObject({ state: 'completed', result: { status: 'confirmed' } });
    expect(await userRow(u.id)).toMatchObject({ role: 'staff' });

    await expectRefused(() => stack.request('POST', `/api/v1/booking/bookings/${booking}/complete`, { as: u }), 403, 'forbidden');
    expect(await userRow(u.id)).toMatchObject({ role: 'member' });
  });

  it('a command records the acting user, who exists in users', async () => {
    const u = makeUser('member');
    const res = await createBooking(stack, u, spaceId, hourlySlot(120));
    expect(res.body).toMatchObject({ state: 'completed' });
    const [row] = await sql<{ user_id: string; email: string }>(
      'select b.user_id, u.email from bookings b join users u on u.id = b.user_id where b.id = ?',
      [res.body.result.bookingId],
    );
    expect(row).toEqual({ user_id: u.id, email: u.email });
  });
});

describe('verified tokens are remembered only until they expire', () => {
  it('a token accepted a moment ago is refused once its exp has passed', async () => {
    const user = makeUser('member');
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await sign({ sub: user.id, email: user.email, name: user.name, role: user.role, exp }, TEST_JWT_SECRET, 'HS256');
    expect((await stack.request('GET', '/api/v1/workspaces', { token })).status).toBe(200);
    expect((await stack.request('GET', '/api/v1/workspaces', { token })).status).toBe(200); // from the cache
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
    const late = await stack.request('GET', '/api/v1/workspaces', { token });
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('unauthorized');
  });
});

describe('a refused token says which claim', () => {
  it('a display name past 200 characters is named, not called missing', async () => {
    const res = await stack.request('GET', '/api/v1/workspaces', { token: await tokenFor(makeUser('member'), { claims: { name: 'N'.repeat(201), email: 'nope' } }) });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/^Token claims are missing or invalid .*: email: .+; name: .*200/);
  });
});
