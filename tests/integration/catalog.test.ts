import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

/** Catalog writes (admin, synchronous): changing a workspace or a space, deactivating a space and opening it again. */
let stack: Stack;
const member = makeUser('member');
const staff = makeUser('staff');

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

describe('PATCH /spaces/:id', () => {
  it('changes rates and capacity for bookings made from then on; a booking keeps its price', async () => {
    const { space } = await seedSpace(stack, { taxRateBps: 0 });
    const before = await createBooking(stack, member, space.id, hourlySlot(30));
    expect(before.body.result.totalPrice).toBe(1500);
    const changed = await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: { hourlyRate: 2000, capacity: 2, name: 'Room 1b' } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: space.id, hourlyRate: 2000, capacity: 2, name: 'Room 1b', kind: 'meeting_room', dailyRate: 9000, active: true });
    expect((await stack.request('GET', `/api/v1/spaces/${space.id}`, { as: member })).body).toMatchObject({ hourlyRate: 2000, capacity: 2 });
    const after = await createBooking(stack, member, space.id, hourlySlot(32));
    expect(after.body.result.totalPrice).toBe(2000);
    expect((await stack.request('GET', `/api/v1/booking/bookings/${before.body.result.bookingId}`, { as: member })).body.totalPrice).toBe(1500);
    const crowded = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId: space.id, bookingType: 'hourly', attendees: 3, ...hourlySlot(34) } });
    expect(crowded.status).toBe(400);
  });

  it('active: false refuses new bookings and cart items (space_inactive) and keeps those it has; active: true opens it again', async () => {
    const { space } = await seedSpace(stack);
    const kept = await createBooking(stack, member, space.id, hourlySlot(40));
    expect((await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: { active: false } })).body.active).toBe(false);
    const refused = await stack.request('POST', '/api/v1/booking/bookings', { as: member, body: { spaceId: space.id, bookingType: 'hourly', ...hourlySlot(42) } });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'space_inactive']);
    const item = await stack.request('POST', '/api/v1/booking/cart/add-item', { as: member, body: { spaceId: space.id, bookingType: 'hourly', ...hourlySlot(44) } });
    expect(item.body.error.code).toBe('space_inactive');
    expect((await stack.request('GET', `/api/v1/booking/bookings/${kept.body.result.bookingId}`, { as: member })).body.status).toBe('pending');
    expect((await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: { active: true } })).body.active).toBe(true);
    expect((await createBooking(stack, member, space.id, hourlySlot(42))).body.state).toBe('completed');
  });

  it('refuses: members and staff 403, an unknown space 404, nothing to change or its kind 400 with the field', async () => {
    const { space } = await seedSpace(stack);
    for (const who of [member, staff]) expect((await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: who, body: { active: false } })).status).toBe(403);
    expect((await stack.request('PATCH', `/api/v1/spaces/${crypto.randomUUID()}`, { as: admin, body: { active: false } })).status).toBe(404);
    const empty = await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: {} });
    expect([empty.status, empty.body.error.code]).toEqual([400, 'validation_error']);
    const kind = await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: { kind: 'desk' } });
    expect(kind.body.error.details).toEqual([{ path: 'kind', message: 'Unrecognized key' }]);
    const rate = await stack.request('PATCH', `/api/v1/spaces/${space.id}`, { as: admin, body: { hourlyRate: -1 } });
    expect(rate.body.error.details.map((d: { path: string }) => d.path)).toEqual(['hourlyRate']);
    expect((await stack.request('GET', `/api/v1/spaces/${space.id}`, { as: member })).body).toMatchObject({ active: true, kind: 'meeting_room', hourlyRate: 1500 });
  });
});

describe('PATCH /workspaces/:id', () => {
  it("changes the name and the tax rate (for bookings made from then on); the zone and currency stay as created", async () => {
    const { workspace, space } = await seedSpace(stack, { taxRateBps: 0 });
    const changed = await stack.request('PATCH', `/api/v1/workspaces/${workspace.id}`, { as: admin, body: { name: 'Hub 2', taxRateBps: 1000 } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: workspace.id, name: 'Hub 2', taxRateBps: 1000, timezone: 'UTC', currency: 'EUR' });
    expect((await createBooking(stack, member, space.id, hourlySlot(50))).body.result.totalPrice).toBe(1650);
    for (const field of ['timezone', 'currency']) {
      const res = await stack.request('PATCH', `/api/v1/workspaces/${workspace.id}`, { as: admin, body: { [field]: field === 'timezone' ? 'Europe/Paris' : 'USD' } });
      expect(res.body.error.details).toEqual([{ path: field, message: 'Unrecognized key' }]);
    }
    expect((await stack.request('PATCH', `/api/v1/workspaces/${workspace.id}`, { as: staff, body: { name: 'x' } })).status).toBe(403);
    expect((await stack.request('PATCH', `/api/v1/workspaces/${crypto.randomUUID()}`, { as: admin, body: { name: 'x' } })).status).toBe(404);
  });
});

describe('GET /workspaces/:id/spaces: narrowed, and free for a window', () => {
  it('filters by kind, capacity and active; availableFrom–availableTo leaves out the claimed (bookings, live holds) and the inactive', async () => {
    const { workspace, space } = await seedSpace(stack, { capacity: 6 });
    const room: string = space.id;
    const add = async (name: string, kind: string, capacity: number) => {
      const res = await stack.request('POST', `/api/v1/workspaces/${workspace.id}/spaces`, {
        as: admin,
        body: { name, kind, capacity, hourlyRate: 500, dailyRate: 3000, monthlyRate: 50000 },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    const deskA = await add('Desk A', 'desk', 1);
    const deskB = await add('Desk B', 'desk', 1);
    const office = await add('Office', 'office', 4);
    const closed = await add('Studio', 'office', 10);
    await stack.request('PATCH', `/api/v1/spaces/${closed}`, { as: admin, body: { active: false } });
    const names = async (query: string) => {
      const res = await stack.request('GET', `/api/v1/workspaces/${workspace.id}/spaces?${query}`, { as: member });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.total).toBe(res.body.items.length);
      return res.body.items.map((s: { id: string }) => s.id);
    };
    expect(await names('')).toEqual([deskA, deskB, office, room, closed]); // by name
    expect(await names('kind=desk')).toEqual([deskA, deskB]);
    expect(await names('minCapacity=4')).toEqual([office, room, closed]);
    expect(await names('minCapacity=4&kind=office&active=true')).toEqual([office]);
    expect(await names('active=false')).toEqual([closed]);

    // Desk A booked 09–10 (in 60 h), desk B held in a cart 09:30–10:30, the room booked and then cancelled.
    const window = hourlySlot(60);
    expect((await createBooking(stack, member, deskA, window)).body.state).toBe('completed');
    const later = { startsAt: new Date(Date.parse(window.startsAt) + 30 * 60_000).toISOString(), endsAt: new Date(Date.parse(window.endsAt) + 30 * 60_000).toISOString() };
    const held = await stack.request('POST', '/api/v1/booking/cart/add-item', { as: member, wait: 10, body: { spaceId: deskB, bookingType: 'hourly', ...later } });
    expect(held.body.state, JSON.stringify(held.body)).toBe('completed');
    const roomBooking = (await createBooking(stack, staff, room, window)).body.result.bookingId;
    const cancelled = await stack.request('POST', `/api/v1/booking/bookings/${roomBooking}/cancel`, { as: staff, wait: 10, body: { reason: 'plans changed' } });
    expect(cancelled.body.state).toBe('completed');

    const free = (from: string, to: string, more = '') =>
      names(`availableFrom=${encodeURIComponent(from)}&availableTo=${encodeURIComponent(to)}${more}`);
    expect(await free(window.startsAt, window.endsAt)).toEqual([office, room]);
    expect(await free(window.startsAt, window.endsAt, '&kind=desk')).toEqual([]);
    expect(await free(window.startsAt, window.endsAt, '&active=false')).toEqual([]);
    // Half-open: the hour before is free for desk A (its booking starts at its end); desk B's hold starts half an hour in.
    const before = { from: new Date(Date.parse(window.startsAt) - 3_600_000).toISOString(), to: window.startsAt };
    expect(await free(before.from, before.to)).toEqual([deskA, deskB, office, room]);
    // The hour after desk A's booking: desk B's hold still overlaps it.
    expect(await free(window.endsAt, new Date(Date.parse(window.endsAt) + 3_600_000).toISOString(), '&kind=desk')).toEqual([deskA]);
  });

  it('refuses a bad filter with its query path', async () => {
    const { workspace } = await seedSpace(stack);
    const refused = async (query: string, paths: string[]) => {
      const res = await stack.request('GET', `/api/v1/workspaces/${workspace.id}/spaces?${query}`, { as: member });
      expect(res.status, query).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path), query).toEqual(paths);
    };
    await refused('kind=sofa', ['query.kind']);
    await refused('minCapacity=0', ['query.minCapacity']);
    await refused('minCapacity=2.5', ['query.minCapacity']);
    await refused('active=yes', ['query.active']);
    await refused('availableFrom=2030-01-07T09:00:00Z', ['query.availableTo']);
    await refused('availableTo=2030-01-07T09:00:00Z', ['query.availableFrom']);
    await refused('availableFrom=2030-01-07T09:00:00Z&availableTo=2030-01-07T08:00:00Z', ['query.availableTo']);
    await refused('availableFrom=2030-01-07T09:00:00Z&availableTo=2031-02-07T09:00:00Z', ['query.availableTo']);
    await refused('availableFrom=soon&availableTo=2030-01-07T09:00:00Z', ['query.availableFrom']);
  });
});
