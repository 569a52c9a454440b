import { AsyncLocalStorage } from 'node:async_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { inTransaction } from '../../src/db/orm.js';
import { BookingSchema } from '../../src/db/entities/index.js';
import { runSweep } from '../../src/maintenance/sweeps.js';
import { act, admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { addItem, checkout } from '../helpers/cart.js';
import { makeUser, startStack, type Stack } from '../helpers/stack.js';

/**
 * Nothing the service does starts an AsyncLocalStorage (src/db/no-async-context.ts: on Node 20 the first one installs
 * promise hooks that every later promise of the process pays for). Watched: AsyncLocalStorage `run` and `enterWith`
 * called from the service's code or from MikroORM, across catalog writes, commands through the worker (a grouped
 * create, flushes and row locks of the others, a refusal), cart checkout, list reads, a sweep and the ops routes
 * (readiness reads the migrations).
 */
let stack: Stack;
const member = makeUser('member');
const staff = makeUser('staff');
const calls: string[] = [];

function watch(method: 'run' | 'enterWith') {
  const original = AsyncLocalStorage.prototype[method] as (...args: unknown[]) => unknown;
  return vi.spyOn(AsyncLocalStorage.prototype, method).mockImplementation(function (this: AsyncLocalStorage<unknown>, ...args: unknown[]) {
    const stackTrace = new Error().stack ?? '';
    if (/@mikro-orm|\/src\//.test(stackTrace)) calls.push(`${method}: ${stackTrace.split('\n').slice(2, 6).join(' | ')}`);
    return original.apply(this, args);
  } as never);
}

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());
afterEach(() => vi.restoreAllMocks());

describe('no AsyncLocalStorage on the service paths', () => {
  it('is never started by requests, commands, flushes, list reads or sweeps', async () => {
    watch('run');
    watch('enterWith');
    const { workspace, space } = await seedSpace(stack);
    expect((await stack.request('GET', `/api/v1/workspaces/${workspace.id}/spaces`, { as: member })).status).toBe(200);

    const created = await createBooking(stack, member, space.id, hourlySlot(30));
    expect(created.body.state).toBe('completed');
    const bookingId = created.body.result.bookingId as string;
    expect((await act(stack, staff, bookingId, 'confirm')).body.state).toBe('completed');
    // A refusal (the booking is not active) goes through the inbox write of a refused command.
    expect((await act(stack, member, bookingId, 'check-out')).body).toMatchObject({ state: 'failed', error: { code: 'invalid_transition' } });
    expect((await stack.request('GET', '/api/v1/booking/bookings', { as: member })).body.total).toBe(1);
    expect((await stack.request('GET', `/api/v1/booking/bookings/${bookingId}`, { as: member })).body.status).toBe('confirmed');

    expect((await addItem(stack, member, space.id, hourlySlot(60))).status).toBe(200);
    const paid = await checkout(stack, member, undefined, { prefer: 'wait=10' });
    expect(paid.body.state).toBe('completed');

    const swept = await runSweep(stack.orm, 'sweep.auto-complete', new Date(Date.now() + 400 * 3_600_000), stack.hooks);
    expect(swept).toBeGreaterThanOrEqual(1);
    expect((await stack.request('GET', '/api/v1/workspaces', { as: admin })).status).toBe(200);
    expect((await stack.request('GET', '/readyz')).status).toBe(200);
    expect((await stack.request('GET', '/metrics')).status).toBe(200);
    expect(calls).toEqual([]);
  });

  it('inTransaction commits what its callback flushed, and rolls all of it back when the callback throws', async () => {
    const { space } = await seedSpace(stack);
    const created = await createBooking(stack, member, space.id, hourlySlot(90));
    const id = created.body.result.bookingId as string;
    await expect(
      inTransaction(stack.orm, async (em) => {
        const booking = await em.findOneOrFail(BookingSchema, id);
        booking.notes = 'changed inside';
        await em.flush();
        throw new Error('after the flush');
      }),
    ).rejects.toThrow('after the flush');
    expect((await stack.orm.em.fork().findOneOrFail(BookingSchema, id)).notes).not.toBe('changed inside');

    await inTransaction(stack.orm, async (em) => {
      (await em.findOneOrFail(BookingSchema, id)).notes = 'committed';
    });
    expect((await stack.orm.em.fork().findOneOrFail(BookingSchema, id)).notes).toBe('committed');
  });
});
