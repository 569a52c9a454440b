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
