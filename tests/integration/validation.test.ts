import { DateTime } from 'luxon';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, createBooking, hourlySlot, seedSpace } from '../helpers/factories.js';
import { makeUser, startStack, type Stack, type TestResponse } from '../helpers/stack.js';

/**
 * Bad input never reaches the queue: every refusal answers in the error envelope with the field paths, and
 * leaves the command queue and the tables exactly as they were.
 */

let stack: Stack;
/** A UTC workspace's space, capacity 6. */
let spaceId: string;
let workspaceId: string;
/** A Europe/Berlin workspace's space, capacity 6. */
let berlinSpaceId: string;
/** A pending booking of `member`, for PATCH / cancel. */
let bookingId: string;
const member = makeUser('member');
const staff = makeUser('staff');

const CAPACITY = 6;
const QUARTER = 15 * 60_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const BERLIN = 'Europe/Berlin';

beforeAll(async () => {
  stack = await startStack();
  const utc = await seedSpace(stack, { capacity: CAPACITY });
  spaceId = utc.space.id;
  workspaceId = utc.workspace.id;
  berlinSpaceId = (await seedSpace(stack, { timezone: BERLIN, capacity: CAPACITY })).space.id;
  const created = await createBooking(stack, member, spaceId, hourlySlot(300));
  expect(created.body, JSON.stringify(created.body)).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  bookingId = created.body.result.bookingId;
});
afterAll(() => stack?.close());

// ---- what "nothing happened" means ----

/** Every job the commands queue holds, in any state (a refused request must not add one). */
async function queuedTotal(): Promise<number> {
  const counts = await stack.queues.commands.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

async function rowCounts() {
  const [row] = await stack.orm.em
    .fork()
    .getConnection()
    .execute<{ bookings: number; reservations: number; workspaces: number; spaces: number; commands: number }[]>(
      `select (select count(*) from bookings)::int as bookings,
              (select count(*) from reservations)::int as reservations,
              (select count(*) from workspaces)::int as workspaces,
              (select count(*) from spaces)::int as spaces,
              (select count(*) from processed_commands)::int as commands`,
    );
  return row;
}

interface Refusal {
  status: number;
  code: string;
  /** The exact field paths of `details` (any order); omit when the answer has no field details. */
  paths?: string[];
}

/**
 * Sends a request that must be refused and checks the envelope, the status, the field paths, and that neither
 * the queue nor any table changed.
 */
async function expectRefused(send: () => Promise<TestResponse>, expected: Refusal): Promise<TestResponse> {
  const jobsBefore = await queuedTotal();
  const rowsBefore = await rowCounts();
  const res = await send();
  expect(res.status, JSON.stringify(res.body)).toBe(expected.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(res.body.error).toMatchObject({ code: expected.code, message: expect.any(String) });
  expect(res.body.error.message.length).toBeGreaterThan(0);
  for (const key of Object.keys(res.body.error)) expect(['code', 'message', 'details']).toContain(key);
  if (expected.paths) {
    const details = res.body.error.details as { path: string; message: string }[];
    expect(Array.isArray(details), JSON.stringify(res.body)).toBe(true);
    for (const d of details) expect(d).toEqual({ path: expect.any(String), message: expect.stringMatching(/\S/) });
    expect(details.map((d) => d.path).sort()).toEqual([...expected.paths].sort());
  }
  expect(await queuedTotal()).toBe(jobsBefore);
  expect(await rowCounts()).toEqual(rowsBefore);
  return res;
}

const post = (path: string, body: unknown, as = member, headers?: Record<string, string>) =>
  stack.request('POST', path, { as, body, ...(headers ? { headers } : {}) });
const createPath = '/api/v1/booking/bookings';

// ---- time helpers ----

/** An hourly window on the UTC grid `hoursAhead` from now. */
const gridStart = (hoursAhead: number) => Math.ceil((Date.now() + hoursAhead * HOUR) / QUARTER) * QUARTER;
const slot = (hoursAhead: number, minutes = 60) => {
  const start = gridStart(hoursAhead);
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(start + minutes * MINUTE).toISOString() };
};
const berlinMidnight = (daysAhead: number) => DateTime.now().setZone(BERLIN).startOf('day').plus({ days: daysAhead });
const utcMidnight = (daysAhead: number) => DateTime.utc().startOf('day').plus({ days: daysAhead });
const iso = (dt: DateTime) => dt.toISO()!;

/** A body that is valid except for what a case changes. */
const hourly = (over: Record<string, unknown> = {}) => ({ spaceId, bookingType: 'hourly', startsAt: slot(48).startsAt, endsAt: slot(48).endsAt, ...over });
const without = (key: string) => {
  const b: Record<string, unknown> = hourly();
  delete b[key];
  return b;
};

describe('POST /booking/bookings: every rule → 400 validation_error with the field path, nothing enqueued', () => {
  const cases: [string, () => Record<string, unknown>, string[]][] = [
    ['missing spaceId', () => without('spaceId'), ['spaceId']],
    ['non-uuid spaceId', () => hourly({ spaceId: 'space-1' }), ['spaceId']],
    ['numeric spaceId', () => hourly({ spaceId: 42 }), ['spaceId']],
    ['missing bookingType', () => without('bookingType'), ['bookingType']],
    ['bookingType weekly', () => hourly({ bookingType: 'weekly' }), ['bookingType']],
    ['missing startsAt', () => without('startsAt'), ['startsAt']],
    ['startsAt not ISO', () => hourly({ startsAt: 'tomorrow at ten' }), ['startsAt']],
    ['startsAt as epoch millis', () => hourly({ startsAt: gridStart(48) }), ['startsAt']],
    ['startsAt without offset', () => hourly({ startsAt: slot(48).startsAt.replace(/\.\d+Z$/, '') }), ['startsAt']],
    ['endsAt without offset', () => hourly({ endsAt: slot(48).endsAt.replace(/\.\d+Z$/, '') }), ['endsAt']],
    ['a date that does not exist (Feb 30)', () => hourly({ startsAt: '2031-02-30T10:00:00Z', endsAt: '2031-02-30T11:00:00Z' }), ['startsAt', 'endsAt']],
    ['endsAt before startsAt', () => hourly({ startsAt: slot(48).startsAt, endsAt: slot(47).startsAt }), ['endsAt']],
    ['endsAt equal to startsAt', () => hourly({ startsAt: slot(48).startsAt, endsAt: slot(48).startsAt }), ['endsAt']],
    ['start in the past', () => hourly(slot(-2)), ['startsAt']],
    ['hourly shorter than 30 minutes', () => hourly(slot(48, 15)), ['endsAt']],
    ['hourly longer than 24 hours', () => hourly(slot(48, 25 * 60)), ['endsAt']],
    [
      'hourly start off the 15-minute grid',
      () => ({ ...hourly(), startsAt: new Date(gridStart(48) + 7 * MINUTE).toISOString(), endsAt: new Date(gridStart(48) + 2 * HOUR).toISOString() }),
      ['startsAt'],
    ],
    ['hourly end off the 15-minute grid', () => hourly({ endsAt: new Date(gridStart(48) + HOUR + 40_000).toISOString() }), ['endsAt']],
    [
      'daily at UTC midnight in a Europe/Berlin workspace',
      () => ({ spaceId: berlinSpaceId, bookingType: 'daily', startsAt: iso(utcMidnight(10)), endsAt: iso(utcMidnight(12)) }),
      ['startsAt', 'endsAt'],
    ],
    [
      'daily ending at 03:00 local',
      () => ({ spaceId: berlinSpaceId, bookingType: 'daily', startsAt: iso(berlinMidnight(10)), endsAt: iso(berlinMidnight(11).plus({ hours: 3 })) }),
      ['endsAt'],
    ],
    [
      'monthly not whole months',
      () => ({ spaceId: berlinSpaceId, bookingType: 'monthly', startsAt: iso(berlinMidnight(10)), endsAt: iso(berlinMidnight(10).plus({ months: 1, days: 1 })) }),
      ['endsAt'],
    ],
    [
      'monthly starting at 09:00 local',
      () => ({
        spaceId: berlinSpaceId,
        bookingType: 'monthly',
        startsAt: iso(berlinMidnight(10).plus({ hours: 9 })),
        endsAt: iso(berlinMidnight(10).plus({ hours: 9 }).plus({ months: 1 })),
      }),
      ['startsAt'],
    ],
    ['attendees 0', () => hourly({ attendees: 0 }), ['attendees']],
    ['attendees 1.5', () => hourly({ attendees: 1.5 }), ['attendees']],
    ['attendees as a string', () => hourly({ attendees: '2' }), ['attendees']],
    ['attendees above the space capacity', () => hourly({ attendees: CAPACITY + 1 }), ['attendees']],
    ['an unknown extra key (strict object)', () => hourly({ discount: 100 }), ['discount']],
    ['two unknown keys', () => hourly({ status: 'confirmed', userId: randomUUID() }), ['status', 'userId']],
    ['notes over 2000 characters', () => hourly({ notes: 'x'.repeat(2001) }), ['notes']],
    ['notes with a NUL character', () => hourly({ notes: 'a\u0000b' }), ['notes']],
    ['several faults at once', () => ({ ...without('spaceId'), bookingType: 'weekly', attendees: 0 }), ['spaceId', 'bookingType', 'attendees']],
  ];

  it.each(cases)('%s', async (_name, body, paths) => {
    await expectRefused(() => post(createPath, body()), { status: 400, code: 'validation_error', paths });
  });

  it('the time-rule message names the rule', async () => {
    const res = await expectRefused(() => post(createPath, hourly(slot(48, 15))), { status: 400, code: 'validation_error', paths: ['endsAt'] });
    expect(res.body.error.details[0].message).toMatch(/30 minutes/);
    const zone = await expectRefused(
      () => post(createPath, { spaceId: berlinSpaceId, bookingType: 'daily', startsAt: iso(utcMidnight(10)), endsAt: iso(utcMidnight(12)) }),
      { status: 400, code: 'validation_error', paths: ['startsAt', 'endsAt'] },
    );
    expect(zone.body.error.details.map((d: { message: string }) => d.message)).toEqual([
      'daily bookings must start at local midnight',
      'daily bookings must end at local midnight',
    ]);
  });

  it('the boundaries are accepted: attendees = capacity and notes of exactly 2000 characters', async () => {
    const jobsBefore = await queuedTotal();
    const window = slot(52, 30);
    const notes = 'n'.repeat(2000);
    const res = await stack.request('POST', createPath, {
      as: member,
      wait: 10,
      body: { spaceId, bookingType: 'hourly', startsAt: window.startsAt, endsAt: window.endsAt, attendees: CAPACITY, notes },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    expect(await queuedTotal()).toBe(jobsBefore + 1);
    const detail = await stack.request('GET', `${createPath}/${res.body.result.bookingId}`, { as: member });
    expect(detail.body).toMatchObject({ attendees: CAPACITY, notes, startsAt: window.startsAt, endsAt: window.endsAt, bookingType: 'hourly' });
  });

  it('daily in Europe/Berlin: local midnight is accepted (the UTC-midnight cases above were refused)', async () => {
    const start = berlinMidnight(10);
    const end = berlinMidnight(12);
    const res = await stack.request('POST', createPath, {
      as: member,
      wait: 10,
      body: { spaceId: berlinSpaceId, bookingType: 'daily', startsAt: iso(start), endsAt: iso(end) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    const detail = await stack.request('GET', `${createPath}/${res.body.result.bookingId}`, { as: member });
    expect(detail.body).toMatchObject({
      bookingType: 'daily',
      spaceId: berlinSpaceId,
      startsAt: start.toUTC().toISO(),
      endsAt: end.toUTC().toISO(),
      // 2 days × 9000, 19% tax.
      basePrice: 18000,
      totalPrice: 18000 + 3420,
    });
  });

  it('monthly in Europe/Berlin: one whole month from local midnight is accepted', async () => {
    const start = berlinMidnight(40);
    const res = await stack.request('POST', createPath, {
      as: member,
      wait: 10,
      body: { spaceId: berlinSpaceId, bookingType: 'monthly', startsAt: iso(start), endsAt: iso(start.plus({ months: 1 })) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
  });
});

describe('PATCH and cancel: invalid bodies → 400, the booking untouched', () => {
  const patch = (body: unknown) => stack.request('PATCH', `${createPath}/${bookingId}`, { as: member, body });
  const cancel = (r: { body?: unknown; rawBody?: string } = {}) => stack.request('POST', `${createPath}/${bookingId}/cancel`, { as: member, ...r });

  it('PATCH with an empty body names the body', async () => {
    const res = await expectRefused(() => patch({}), { status: 400, code: 'validation_error', paths: ['(body)'] });
    expect(res.body.error.details[0].message).toMatch(/at least one/);
  });

  it.each([
    ['attendees 0', { attendees: 0 }, ['attendees']],
    ['attendees above capacity', { attendees: CAPACITY + 1 }, ['attendees']],
    ['notes over 2000 characters', { notes: 'x'.repeat(2001) }, ['notes']],
    ['a status change beside a valid field (unknown key)', { notes: 'ok', status: 'confirmed' }, ['status']],
    ['only a status change: the unknown key, and nothing valid given', { status: 'confirmed' }, ['status', '(body)']],
    ['startsAt without offset', { startsAt: '2031-01-01T10:00:00' }, ['startsAt']],
    ['a move into the past', { ...slot(-3) }, ['startsAt']],
    ['endsAt before the current start', { endsAt: slot(1).startsAt }, ['endsAt']],
  ] as [string, Record<string, unknown>, string[]][])('PATCH %s', async (_name, body, paths) => {
    await expectRefused(() => patch(body), { status: 400, code: 'validation_error', paths });
  });

  it.each([
    ['an empty object', { body: {} }],
    ['no body at all', {}],
    ['a blank reason', { body: { reason: '   ' } }],
    ['a reason over 500 characters', { body: { reason: 'r'.repeat(501) } }],
    ['a numeric reason', { body: { reason: 42 } }],
  ] as [string, { body?: unknown }][])('cancel with %s → path reason', async (_name, r) => {
    await expectRefused(() => cancel(r), { status: 400, code: 'validation_error', paths: ['reason'] });
  });

  it('after all that the booking is exactly as created', async () => {
    const detail = await stack.request('GET', `${createPath}/${bookingId}`, { as: member });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: bookingId, status: 'pending', version: 1, attendees: 1, notes: null, cancelledAt: null });
  });
});

describe('catalog writes (admin): invalid bodies → 400 with the field path, no row written', () => {
  const workspace = (over: Record<string, unknown>) => ({ name: 'Annex', timezone: 'UTC', currency: 'EUR', taxRateBps: 1900, ...over });
  const space = (over: Record<string, unknown>) => ({ name: 'Desk 9', kind: 'desk', capacity: 1, hourlyRate: 500, dailyRate: 2500, monthlyRate: 40000, ...over });

  it.each([
    ['timezone Mars/Olympus', { timezone: 'Mars/Olympus' }, ['timezone']],
    ['timezone UTC+5 (an offset, not a zone)', { timezone: 'UTC+5' }, ['timezone']],
    ['currency in lower case', { currency: 'eur' }, ['currency']],
    ['currency EURO', { currency: 'EURO' }, ['currency']],
    ['currency ZZZ (three letters, no ISO 4217 code)', { currency: 'ZZZ' }, ['currency']],
    ['a name with an unpaired surrogate', { name: 'Hub \ud800x' }, ['name']],
    ['taxRateBps 10001', { taxRateBps: 10001 }, ['taxRateBps']],
    ['taxRateBps -1', { taxRateBps: -1 }, ['taxRateBps']],
    ['taxRateBps 19.5', { taxRateBps: 19.5 }, ['taxRateBps']],
    ['a blank name', { name: '   ' }, ['name']],
    ['a name with a NUL character', { name: 'Hub\u0000' }, ['name']],
    ['an unknown key', { id: randomUUID() }, ['id']],
    ['currency and tax both wrong', { currency: 'eur', taxRateBps: 10001 }, ['currency', 'taxRateBps']],
    // The zone is checked with the other fields: every issue in one answer.
    ['zone and currency both wrong', { timezone: 'Mars/Base', currency: 'EURO' }, ['timezone', 'currency']],
  ] as [string, Record<string, unknown>, string[]][])('POST /workspaces with %s', async (_name, over, paths) => {
    await expectRefused(() => post('/api/v1/workspaces', workspace(over), admin), { status: 400, code: 'validation_error', paths });
  });

  it('POST /workspaces with a valid body is accepted (control)', async () => {
    const res = await post('/api/v1/workspaces', workspace({ timezone: 'America/New_York', taxRateBps: 10000, name: 'Annex \u{1F680}' }), admin);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    // A paired surrogate (an emoji) is text like any other, stored and answered as sent.
    expect(res.body).toMatchObject({ id: expect.any(String), name: 'Annex \u{1F680}', timezone: 'America/New_York', currency: 'EUR', taxRateBps: 10000 });
    expect((await stack.request('GET', `/api/v1/workspaces/${res.body.id}`, { as: admin })).body.name).toBe('Annex \u{1F680}');
  });

  it.each([
    ['capacity 0', { capacity: 0 }, ['capacity']],
    ['a negative hourly rate', { hourlyRate: -1 }, ['hourlyRate']],
    ['a fractional daily rate', { dailyRate: 25.5 }, ['dailyRate']],
    ['no monthly rate', { monthlyRate: undefined }, ['monthlyRate']],
    ["kind 'garage'", { kind: 'garage' }, ['kind']],
    ['an unknown key', { workspaceId: randomUUID() }, ['workspaceId']],
    ['a name with a NUL character', { name: 'Desk\u0000' }, ['name']],
  ] as [string, Record<string, unknown>, string[]][])('POST /workspaces/:id/spaces with %s', async (_name, over, paths) => {
    await expectRefused(() => post(`/api/v1/workspaces/${workspaceId}/spaces`, space(over), admin), { status: 400, code: 'validation_error', paths });
  });
});

describe('query parameters → 400 with query.* paths', () => {
  const get = (path: string) => () => stack.request('GET', path, { as: member });
  const availability = (from: string, to: string) =>
    get(`/api/v1/spaces/${spaceId}/availability?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  const at = (daysAhead: number) => utcMidnight(daysAhead).toISO()!;

  it.each([
    ['page=0', '/api/v1/booking/bookings?page=0', ['query.page']],
    ['page=abc', '/api/v1/booking/bookings?page=abc', ['query.page']],
    ['pageSize=1000', '/api/v1/booking/bookings?pageSize=1000', ['query.pageSize']],
    ['pageSize=0', '/api/v1/booking/bookings?pageSize=0', ['query.pageSize']],
    ['status=bogus', '/api/v1/booking/bookings?status=bogus', ['query.status']],
    ['status=pending,bogus', '/api/v1/booking/bookings?status=pending,bogus', ['query.status']],
    ['status=pending,', '/api/v1/booking/bookings?status=pending,', ['query.status']],
    ['bookingType=weekly', '/api/v1/booking/bookings?bookingType=weekly', ['query.bookingType']],
    ['spaceId not a uuid', '/api/v1/booking/bookings?spaceId=nope', ['query.spaceId']],
    ['workspaceId not a uuid', '/api/v1/booking/bookings?workspaceId=nope', ['query.workspaceId']],
    ['from not a timestamp', '/api/v1/booking/bookings?from=tomorrow', ['query.from']],
    ['to without an offset', '/api/v1/booking/bookings?to=2030-01-07T09:00:00', ['query.to']],
    ['to not after from', '/api/v1/booking/bookings?from=2030-01-07T09:00:00Z&to=2030-01-07T10:00:00%2B01:00', ['query.to']],
    ['sort=price', '/api/v1/booking/bookings?sort=price', ['query.sort']],
    ['three at once', '/api/v1/booking/bookings?page=0&pageSize=1000&status=bogus', ['query.page', 'query.pageSize', 'query.status']],
    ['workspaces pageSize=101', '/api/v1/workspaces?pageSize=101', ['query.pageSize']],
    // Number() reads each of these as a number; a page is written in decimal digits only.
    ...['0x2', '0b11', '1e1', '%201%20', '2.0', '-1', '+1', ''].map((v): [string, string, string[]] => [`page=${v}`, `/api/v1/booking/bookings?page=${v}`, ['query.page']]),
    ['pageSize=1e1 on reviews', `/api/v1/booking/reviews?spaceId=${crypto.randomUUID()}&pageSize=1e1`, ['query.pageSize']],
  ] as [string, string, string[]][])('%s', async (_name, path, paths) => {
    await expectRefused(get(path), { status: 400, code: 'validation_error', paths });
  });

  it("spaces of a workspace with page=0", async () => {
    await expectRefused(get(`/api/v1/workspaces/${workspaceId}/spaces?page=0`), { status: 400, code: 'validation_error', paths: ['query.page'] });
  });

  it('availability with to equal to from', async () => {
    await expectRefused(availability(at(3), at(3)), { status: 400, code: 'validation_error', paths: ['query.to'] });
  });

  it('availability with to before from', async () => {
    const res = await expectRefused(availability(at(5), at(3)), { status: 400, code: 'validation_error', paths: ['query.to'] });
    expect(res.body.error.details[0].message).toMatch(/after from/);
  });

  it('availability over more than 366 days', async () => {
    await expectRefused(availability(at(1), at(400)), { status: 400, code: 'validation_error', paths: ['query.to'] });
  });

  it('availability without from and to', async () => {
    await expectRefused(get(`/api/v1/spaces/${spaceId}/availability`), { status: 400, code: 'validation_error', paths: ['query.from', 'query.to'] });
  });

  it('timestamps outside the years 0001–9999 (UTC), which Postgres cannot store, are refused (found by the fault suite)', async () => {
    await expectRefused(availability('0000-01-01T00:00:00Z', '0000-06-01T00:00:00Z'), { status: 400, code: 'validation_error', paths: ['query.from', 'query.to'] });
    const promo = (over: Record<string, unknown>) => () =>
      post(`/api/v1/workspaces/${workspaceId}/promo-codes`, { code: 'EPOCH1', discountType: 'percent', discountValue: 5, ...over }, admin);
    await expectRefused(promo({ validFrom: '0001-01-01T00:00:00+14:00' }), { status: 400, code: 'validation_error', paths: ['validFrom'] });
    await expectRefused(promo({ validTo: '9999-12-31T23:59:59-14:00' }), { status: 400, code: 'validation_error', paths: ['validTo'] });
  });

  it('a webhook URL with a NUL character is refused (found by the fault suite)', async () => {
    for (const url of ['https://example.com/hook\u0000', 'https://example.com/ho\u0000ok'])
      await expectRefused(() => post(`/api/v1/workspaces/${workspaceId}/webhooks`, { url, secret: 'validation-secret-0123456789', eventTypes: ['BOOKING_CREATED'] }, admin), {
        status: 400,
        code: 'validation_error',
        paths: ['url'],
      });
  });

  it('webhook URLs: one issue each, the first that applies; credentials and a missing host are refused', async () => {
    const hook = (over: Record<string, unknown>) => () =>
      post(`/api/v1/workspaces/${workspaceId}/webhooks`, { url: 'https://hooks.example.com/in', secret: 'validation-secret-0123456789', eventTypes: ['BOOKING_CREATED'], ...over }, admin);
    const refusal = async (over: Record<string, unknown>, path: string) =>
      (await expectRefused(hook(over), { status: 400, code: 'validation_error', paths: [path] })).body.error.details[0].message as string;
    expect(await refusal({ url: 'https://user:pass@hooks.example.com/in' }, 'url')).toBe('must not contain a user name or password');
    expect(await refusal({ url: 'https://token@hooks.example.com/in' }, 'url')).toBe('must not contain a user name or password');
    expect(await refusal({ url: 'http:///in' }, 'url')).toBe('must name a host after the //');
    expect(await refusal({ url: `https://hooks.example.com/${'a'.repeat(2048)}` }, 'url')).toMatch(/2048/);
    expect(await refusal({ url: 'ftp://hooks.example.com/in' }, 'url')).toBe('must be an http:// or https:// URL');
    expect(await refusal({ eventTypes: 'BOOKING_CREATED' }, 'eventTypes')).toMatch(/expected array/);
  });

  it('availability with from lacking an offset', async () => {
    await expectRefused(availability(at(3).replace(/Z$/, ''), at(4)), { status: 400, code: 'validation_error', paths: ['query.from'] });
  });

  it('valid queries answer 200 (control)', async () => {
    const list = await stack.request('GET', '/api/v1/booking/bookings?page=1&pageSize=100&status=pending&bookingType=hourly', { as: member });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ page: 1, pageSize: 100 });
    expect((await stack.request('GET', '/api/v1/booking/bookings?page=007&pageSize=05', { as: member })).body).toMatchObject({ page: 7, pageSize: 5 });
    expect((await stack.request('GET', '/api/v1/booking/bookings', { as: member })).body).toMatchObject({ page: 1, pageSize: 10 });
    expect(list.body.items.map((b: { id: string }) => b.id)).toContain(bookingId);
    // Days 20–21: past every booking of this file (the boundaries' one lands on day 2 or 3 by the time of day).
    const free = await availability(at(20), at(21))();
    expect(free.status).toBe(200);
    expect(free.body).toEqual({ spaceId, from: at(20), to: at(21), busy: [] });
  });
});

describe('malformed and oversized bodies', () => {
  it.each([
    ['truncated JSON', '{"spaceId": '],
    ['not JSON at all', 'spaceId=1&bookingType=hourly'],
    ['a trailing comma', '{"bookingType": "hourly",}'],
  ])('create with %s → 400 envelope, not 500', async (_name, rawBody) => {
    const res = await expectRefused(() => stack.request('POST', createPath, { as: member, rawBody }), { status: 400, code: 'validation_error', paths: ['(body)'] });
    expect(res.body.error.message).toMatch(/JSON/i);
    expect(res.body.error.details).toEqual([{ path: '(body)', message: 'Malformed JSON' }]);
  });

  it('malformed JSON on PATCH, cancel and POST /workspaces → 400', async () => {
    const paths = ['(body)'];
    await expectRefused(() => stack.request('PATCH', `${createPath}/${bookingId}`, { as: member, rawBody: '{"notes":' }), { status: 400, code: 'validation_error', paths });
    await expectRefused(() => stack.request('POST', `${createPath}/${bookingId}/cancel`, { as: member, rawBody: '{reason: "x"}' }), {
      status: 400,
      code: 'validation_error',
      paths,
    });
    await expectRefused(() => stack.request('POST', '/api/v1/workspaces', { as: admin, rawBody: '{"name":"x"' }), { status: 400, code: 'validation_error', paths });
  });

  it.each([
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
    ['a JSON string', '"hello"'],
  ])('create with %s → 400 naming the body', async (_name, rawBody) => {
    await expectRefused(() => stack.request('POST', createPath, { as: member, rawBody }), { status: 400, code: 'validation_error', paths: ['(body)'] });
  });

  it('a JSON body sent as text/plain → 400 naming headers.content-type', async () => {
    await expectRefused(
      () => stack.request('POST', createPath, { as: member, rawBody: JSON.stringify(hourly()), headers: { 'content-type': 'text/plain' } }),
      { status: 400, code: 'validation_error', paths: ['headers.content-type'] },
    );
  });

  it('an optional body sent empty with a JSON Content-Type is no body (clear, checkout); a required one is still 400', async () => {
    const shopper = makeUser('member');
    for (const rawBody of ['', '  \r\n']) {
      const cleared = await stack.request('POST', '/api/v1/booking/cart/clear', { as: shopper, rawBody, wait: 10 });
      expect(cleared.status, JSON.stringify(rawBody)).toBe(200);
      expect(cleared.body).toMatchObject({ state: 'completed', name: 'cart.clear', result: { removed: 0 } });
    }
    const checkout = await stack.request('POST', '/api/v1/booking/cart/checkout', { as: shopper, rawBody: '', wait: 10 });
    expect(checkout.body).toMatchObject({ state: 'failed', name: 'cart.checkout', error: { code: 'cart_empty' } });
    // Malformed is still malformed, and an empty body where one is required is still refused.
    await expectRefused(() => stack.request('POST', '/api/v1/booking/cart/clear', { as: shopper, rawBody: '{' }), { status: 400, code: 'validation_error', paths: ['(body)'] });
    await expectRefused(() => stack.request('POST', createPath, { as: member, rawBody: '' }), { status: 400, code: 'validation_error', paths: ['(body)'] });
  });

  it('a command route that reads no body refuses one (400 at (body), nothing enqueued); none, empty or {} is none', async () => {
    const refused = { status: 400, code: 'validation_error', paths: ['(body)'] };
    await expectRefused(() => stack.request('POST', `${createPath}/${bookingId}/check-in`, { as: member, body: { reason: 'early' } }), refused);
    await expectRefused(() => stack.request('POST', `${createPath}/${bookingId}/confirm`, { as: staff, rawBody: 'garbage' }), refused);
    await expectRefused(() => stack.request('DELETE', `${createPath}/${bookingId}`, { as: member, rawBody: '[]' }), refused);
    // The role guard still answers first: a member's confirm is 403 whatever it carries.
    await expectRefused(() => stack.request('POST', `${createPath}/${bookingId}/confirm`, { as: member, body: { x: 1 } }), { status: 403, code: 'forbidden' });
    // No body, an empty one and {} pass the body check: the request reaches the route's own (an unknown booking: 404).
    for (const rawBody of [undefined, '', ' {} ']) {
      const res = await stack.request('POST', `${createPath}/${randomUUID()}/check-in`, { as: member, rawBody });
      expect(res.status, JSON.stringify(rawBody)).toBe(404);
    }
  });

  it('a body over the 64 KB limit → 413 payload_too_large on create, PATCH and catalog writes', async () => {
    const big = 'x'.repeat(70 * 1024);
    for (const send of [
      () => stack.request('POST', createPath, { as: member, body: hourly({ notes: big }) }),
      () => stack.request('PATCH', `${createPath}/${bookingId}`, { as: member, body: { notes: big } }),
      () => stack.request('POST', `${createPath}/${bookingId}/cancel`, { as: member, body: { reason: big } }),
      () => stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: big, timezone: 'UTC', currency: 'EUR', taxRateBps: 0 } }),
    ]) {
      const res = await expectRefused(send, { status: 413, code: 'payload_too_large' });
      expect(res.body.error.message).toMatch(/65536/);
    }
  });

  it('a body just under the limit is read and validated (400 on notes, not 413)', async () => {
    await expectRefused(() => stack.request('POST', createPath, { as: member, body: hourly({ notes: 'x'.repeat(60 * 1024) }) }), {
      status: 400,
      code: 'validation_error',
      paths: ['notes'],
    });
  });
});

describe('unknown ids → 404 not_found; malformed ids → 400; unknown routes → 404', () => {
  const unknown = randomUUID();
  const notFound = { status: 404, code: 'not_found' };

  it.each([
    ['GET /workspaces/:id', 'GET', `/api/v1/workspaces/${unknown}`],
    ['GET /workspaces/:id/spaces', 'GET', `/api/v1/workspaces/${unknown}/spaces`],
    ['GET /spaces/:id', 'GET', `/api/v1/spaces/${unknown}`],
    ['GET /spaces/:id/availability', 'GET', `/api/v1/spaces/${unknown}/availability?from=2031-01-01T00:00:00Z&to=2031-01-02T00:00:00Z`],
    ['GET /booking/bookings/:id', 'GET', `/api/v1/booking/bookings/${unknown}`],
    ['DELETE /booking/bookings/:id', 'DELETE', `/api/v1/booking/bookings/${unknown}`],
    ['POST /booking/bookings/:id/check-in', 'POST', `/api/v1/booking/bookings/${unknown}/check-in`],
    ['POST /booking/bookings/:id/check-out', 'POST', `/api/v1/booking/bookings/${unknown}/check-out`],
    ['GET /jobs/unknown-id', 'GET', '/api/v1/jobs/unknown-id'],
  ])('%s', async (_name, method, path) => {
    const res = await expectRefused(() => stack.request(method, path, { as: member }), notFound);
    expect(res.body.error.details).toBeUndefined();
  });

  it('PATCH and cancel of an unknown booking → 404, nothing enqueued', async () => {
    await expectRefused(() => stack.request('PATCH', `${createPath}/${unknown}`, { as: member, body: { notes: 'x' } }), notFound);
    await expectRefused(() => post(`${createPath}/${unknown}/cancel`, { reason: 'x' }), notFound);
  });

  it('staff confirm / complete of an unknown booking → 404', async () => {
    await expectRefused(() => stack.request('POST', `${createPath}/${unknown}/confirm`, { as: staff }), notFound);
    await expectRefused(() => stack.request('POST', `${createPath}/${unknown}/complete`, { as: staff }), notFound);
  });

  it('POST /workspaces/:id/spaces on an unknown workspace → 404, no space row', async () => {
    const body = { name: 'Desk', kind: 'desk', capacity: 1, hourlyRate: 1, dailyRate: 1, monthlyRate: 1 };
    await expectRefused(() => post(`/api/v1/workspaces/${unknown}/spaces`, body, admin), notFound);
  });

  it('create with an unknown spaceId → 404, nothing enqueued', async () => {
    const res = await expectRefused(() => post(createPath, hourly({ spaceId: unknown })), notFound);
    expect(res.body.error.message).toContain(unknown);
  });

  it.each([
    ['GET /workspaces/:id', 'GET', '/api/v1/workspaces/abc', undefined],
    ['GET /workspaces/:id/spaces', 'GET', '/api/v1/workspaces/abc/spaces', undefined],
    ['POST /workspaces/:id/spaces', 'POST', '/api/v1/workspaces/abc/spaces', { name: 'Desk', kind: 'desk', capacity: 1, hourlyRate: 1, dailyRate: 1, monthlyRate: 1 }],
    ['GET /spaces/:id', 'GET', '/api/v1/spaces/123', undefined],
    ['GET /booking/bookings/:id', 'GET', '/api/v1/booking/bookings/not-a-uuid', undefined],
    ['PATCH /booking/bookings/:id', 'PATCH', '/api/v1/booking/bookings/not-a-uuid', { notes: 'x' }],
    ['DELETE /booking/bookings/:id', 'DELETE', '/api/v1/booking/bookings/not-a-uuid', undefined],
    ['POST /booking/bookings/:id/cancel', 'POST', '/api/v1/booking/bookings/not-a-uuid/cancel', { reason: 'x' }],
    ['POST /booking/bookings/:id/check-in', 'POST', '/api/v1/booking/bookings/not-a-uuid/check-in', undefined],
  ])('a non-uuid id on %s → 400 params.id', async (_name, method, path, body) => {
    await expectRefused(() => stack.request(method, path, { as: admin, ...(body ? { body } : {}) }), { status: 400, code: 'validation_error', paths: ['params.id'] });
  });

  it('a malformed job id → 400 params.jobId', async () => {
    await expectRefused(() => stack.request('GET', '/api/v1/jobs/a:b', { as: member }), { status: 400, code: 'validation_error', paths: ['params.jobId'] });
    await expectRefused(() => stack.request('GET', `/api/v1/jobs/${'j'.repeat(129)}`, { as: member }), {
      status: 400,
      code: 'validation_error',
      paths: ['params.jobId'],
    });
  });

  it.each([
    ['an unknown path under /api/v1', 'PATCH', '/api/v1/nope'],
    ['an unknown path outside /api/v1', 'GET', '/nope'],
    ['an unknown booking action', 'POST', `/api/v1/booking/bookings/${randomUUID()}/approve`],
    ['a path beyond a resource', 'GET', `/api/v1/spaces/${randomUUID()}/bookings`],
  ])('%s → 404 envelope', async (_name, method, path) => {
    const res = await expectRefused(() => stack.request(method, path, { as: member }), notFound);
    expect(res.body.error.message).toBe(`No route for ${method} ${path}`);
  });

  it.each([
    ['the workspace collection', 'PUT', '/api/v1/workspaces', 'GET, HEAD, POST'],
    ['the booking collection', 'DELETE', '/api/v1/booking/bookings', 'GET, HEAD, POST'],
    ['a booking', 'POST', `/api/v1/booking/bookings/${randomUUID()}`, 'DELETE, GET, HEAD, PATCH'],
    ['a booking action', 'GET', `/api/v1/booking/bookings/${randomUUID()}/cancel`, 'POST'],
    ['a job, with a trailing slash', 'DELETE', '/api/v1/jobs/abc/', 'GET, HEAD'],
    ['a probe outside /api/v1', 'POST', '/healthz', 'GET, HEAD'],
  ])('a wrong method on %s → 405 naming the methods it takes (Allow)', async (_name, method, path, allow) => {
    const res = await expectRefused(() => stack.request(method, path, { as: member }), { status: 405, code: 'method_not_allowed' });
    expect(res.headers.get('allow')).toBe(allow);
    expect(res.body.error.message).toContain(allow);
  });
});

describe('Idempotency-Key header', () => {
  const key = (k: string) => ({ 'idempotency-key': k });

  it.each([
    ['with a space', 'my key'],
    ['over 200 characters', 'k'.repeat(201)],
    ['with a non-ASCII character', 'cl\u00e9'],
    ['with a tab', 'a\tb'],
  ])('create with a key %s → 400 headers.idempotency-key', async (_name, k) => {
    await expectRefused(() => post(createPath, hourly(), member, key(k)), { status: 400, code: 'validation_error', paths: ['headers.idempotency-key'] });
  });

  it('cancel with a key with a space → 400, the booking stays pending', async () => {
    await expectRefused(() => post(`${createPath}/${bookingId}/cancel`, { reason: 'x' }, member, key('a b')), {
      status: 400,
      code: 'validation_error',
      paths: ['headers.idempotency-key'],
    });
    const detail = await stack.request('GET', `${createPath}/${bookingId}`, { as: member });
    expect(detail.body.status).toBe('pending');
  });

  it('a key of exactly 200 printable characters is accepted (control)', async () => {
    const jobsBefore = await queuedTotal();
    const res = await stack.request('POST', createPath, { as: member, body: hourly(slot(56)), headers: key('K'.repeat(199) + '~'), wait: 10 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ state: 'completed', result: { status: 'pending' } });
    expect(res.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await queuedTotal()).toBe(jobsBefore + 1);
  });
});

describe('catalog writes (admin): what is stored', () => {
  it('a time zone in another case is stored as IANA spells it; the new resource is named in Location', async () => {
    const ws = await stack.request('POST', '/api/v1/workspaces', { as: admin, body: { name: 'Case Hub', timezone: 'europe/berlin', currency: 'EUR', taxRateBps: 0 } });
    expect(ws.status).toBe(201);
    expect(ws.body.timezone).toBe('Europe/Berlin');
    expect(ws.headers.get('location')).toBe(`/api/v1/workspaces/${ws.body.id}`);
    const space = await stack.request('POST', `/api/v1/workspaces/${ws.body.id}/spaces`, {
      as: admin,
      body: { name: 'Desk', kind: 'desk', capacity: 1, hourlyRate: 100, dailyRate: 500, monthlyRate: 9000 },
    });
    expect(space.headers.get('location')).toBe(`/api/v1/spaces/${space.body.id}`);
    expect((await stack.request('GET', space.headers.get('location')!, { as: admin })).body.id).toBe(space.body.id);
  });
});
