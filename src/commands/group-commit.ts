import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import {
  BookingEventSchema,
  BookingSchema,
  GuestSchema,
  OutboxSchema,
  ProcessedCommandSchema,
  ReservationSchema,
  SpaceSchema,
  UserSchema,
  WorkspaceSchema,
  type ProcessedCommand,
} from '../db/entities/index.js';
import { columnOfProp, insertClaimed, jsonObjectOf, query, tableOf } from '../db/sql.js';
import { isDomainError } from '../domain/errors.js';
import { commandGroupFallbacks, commandGroupSize } from '../metrics.js';
import { commandSchemas, type CommandPayload } from '../jobs/catalogue.js';
import { planCreate, type CreateCatalogue, type CreateRows, type SlotSpace, type SlotWorkspace } from './booking.commands.js';
import { expiredHoldsDelete } from './claims.js';
import { CommandContext, emptyEffects, type CommandEffects } from './context.js';
import { executeCommand, inboxRow, type CommandHooks, type CommandJob, type CommandOutcome } from './run-command.js';

/**
 * Group commit: booking creates that arrive together are written together, in two statements whatever their number
 * (src/db/sql.ts): the first deletes the expired holds in the members' way (a cleanup any claimer or the sweep may
 * do, committed on its own) and reads what the members need — their spaces, those spaces' workspaces, their users —
 * and which of them the inbox already knows; the second inserts every member's rows at once (bookings, guests,
 * reservations, booking_events, outbox, processed_commands: one multi-row INSERT per table in one statement, so one
 * implicit transaction, all or nothing). Then the group shares one after-commit step (one eviction round trip, one
 * addBulk). A transaction per command costs round trips and CPU on both sides; this is where figure 1 of
 * `npm run bench` spent them. The rows are the ones the create handler writes through the unit of work: both take them
 * from `planCreate` (./booking.commands.ts), the one place a create is checked, priced and turned into rows; only the
 * persistence differs.
 *
 * The guarantees stay per command: each member writes its own inbox row with its own result and effects, in the
 * same statement as its change, so a crash commits all or nothing and every redelivery finds its own outcome.
 * A member the inbox already knows (a redelivery), one its checks refuse, or one missing a catalogue row leaves the
 * group before anything of it is written and runs alone. Past that a group is all-or-nothing, so it never decides
 * who wins: if its insert fails (two members claiming overlapping slots, a claim overlapping a live one, a concurrent
 * delivery of a member, a fault), nothing of it committed and each member runs alone through `executeCommand`,
 * which records refusals and replays exactly as without groups.
 *
 * Only `booking.create` groups: it locks no existing row, so members cannot wait on each other; commands on an
 * existing booking take its row lock and run alone. Groups form naturally: up to `maxInFlight` groups write at once
 * (COMMAND_GROUPS_IN_FLIGHT); a job handed over while all of them are writing waits, and the jobs that waited go
 * together as soon as one has written (its after-commit step runs alongside the next group). A lone job at a light
 * load is a group of one at once, two statements where the handler alone takes a transaction of several, so a light
 * load pays no latency for grouping.
 */
const GROUPABLE = new Set(['booking.create']);

type CreatePayload = CommandPayload<'booking.create'>;
interface Member {
  job: CommandJob;
  resolve: (o: CommandOutcome) => void;
  reject: (e: unknown) => void;
}
/** A member whose rows the group writes: the rows its create decided, its inbox row, its effects. */
interface Planned {
  m: Member;
  rows: CreateRows;
  inbox: ProcessedCommand;
  effects: CommandEffects;
}

export class GroupCommit {
  private waiting: Member[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Groups written, the commands they held, and the commands of failed groups that ran alone (for tests and the logs). */
  readonly stats = { groups: 0, grouped: 0, fellBack: 0 };

  constructor(
    private readonly orm: MikroORM,
    private readonly hooks: CommandHooks,
    /** Most commands per group; 1 turns grouping off. */
    private readonly maxGroup: number,
    /** Most groups writing at once. */
    private readonly maxInFlight = 1,
  ) {}

  execute(job: CommandJob): Promise<CommandOutcome> {
    if (this.maxGroup <= 1 || !GROUPABLE.has(job.name)) return executeCommand(this.orm, job, this.hooks);
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Starts groups while fewer than `maxInFlight` are writing, on the next turn of the event loop, so the jobs the
   * worker hands over in the same turn go together; the others wait for a group to have written.
   */
  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || !this.waiting.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.maxInFlight && this.waiting.length) {
        this.inFlight++;
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          this.inFlight--;
          this.schedule();
        };
        void this.run(this.waiting.splice(0, this.maxGroup), release).finally(release);
      }
    });
  }

  /** Settles every member; never throws. `release` is called once the group has written (or failed to). */
  private async run(group: Member[], release: () => void): Promise<void> {
    const alone = (m: Member) => executeCommand(this.orm, m.job, this.hooks).then(m.resolve, m.reject);
    const parsed = group.map((m) => ({ m, p: commandSchemas['booking.create'].safeParse(m.job.data) }));
    const members = parsed.flatMap(({ m, p }) => (p.success ? [{ m, payload: p.data }] : []));
    const malformed = parsed.filter(({ p }) => !p.success).map(({ m }) => m);
    const refusals = Promise.all(malformed.map(alone));
    if (!members.length) {
      release();
      await refusals;
      return;
    }

    let committed: Planned[];
    const excluded: Member[] = [];
    try {
      committed = await this.write(members, excluded);
    } catch {
      release();
      // Nothing committed: each member alone decides its own outcome (see the class comment).
      this.stats.fellBack += members.length;
      commandGroupFallbacks.inc(members.length);
      await Promise.all([refusals, ...members.map(({ m }) => alone(m))]);
      return;
    }
    release();
    const others = Promise.all([refusals, ...excluded.map(alone)]);
    if (committed.length) await this.afterCommit(committed);
    await others;
  }

  /**
   * The group's two statements: the catalogue, then every member's rows. Members that must run alone are put in
   * `excluded` (nothing of theirs is written); answers the members whose rows were written.
   */
  private async write(members: { m: Member; payload: CreatePayload }[], excluded: Member[]): Promise<Planned[]> {
    const em = this.orm.em.fork();
    const found = await readCatalogue(em, members);
    const planned: Planned[] = [];
    for (const { m, payload } of members) {
      const space = found.spaces.get(payload.spaceId.toLowerCase());
      const workspace = space && found.workspaces.get(space.workspaceId);
      const user = found.users.get(payload.actor.id.toLowerCase());
      // Seen before (a redelivery: it replays), or something it needs is missing (a refusal, or a fault to retry):
      // it runs alone, which decides and records its outcome as without groups.
      if (found.seen.has(m.job.id) || !space || !workspace || !user) {
        excluded.push(m);
        continue;
      }
      const ctx = new CommandContext(em, m.job.id, payload.actor, new Date(payload.requestedAt));
      for (const id of found.freed) ctx.effects.spaceIds.add(id);
      let rows: CreateRows;
      try {
        rows = planCreate(ctx, payload, { space, workspace, user });
      } catch (e) {
        // Refused by its checks: nothing of it is written; it leaves the group and is refused alone.
        if (!isDomainError(e)) throw e;
        excluded.push(m);
        continue;
      }
      planned.push({ m, rows, inbox: inboxRow(m.job, payload, rows.result, ctx.effects), effects: ctx.effects });
    }
    const owned = <T extends object>(rowsOf: (x: Planned) => T | T[]) =>
      planned.flatMap((x, owner) => [rowsOf(x)].flat().map((row) => ({ owner, row: row as object })));
    // A member whose claim on its slot is taken (by a live claim, or by another member of the group) gets no rows:
    // it runs alone, which refuses it `slot_unavailable` as without groups; the others are written all the same.
    const written = await insertClaimed(em, { schema: ReservationSchema, rows: owned((x) => x.rows.reservation) }, [
      { schema: BookingSchema, rows: owned((x) => x.rows.booking) },
      { schema: GuestSchema, rows: owned((x) => x.rows.guests) },
      { schema: BookingEventSchema, rows: owned((x) => x.rows.event) },
      { schema: OutboxSchema, rows: owned((x) => x.rows.outbox) },
      { schema: ProcessedCommandSchema, rows: owned((x) => x.inbox) },
    ]);
    for (const [owner, x] of planned.entries()) if (!written.has(owner)) excluded.push(x.m);
    return planned.filter((_, owner) => written.has(owner));
  }

  private async afterCommit(committed: Planned[]): Promise<void> {
    try {
      await this.hooks.afterCommit?.(mergeEffects(committed.map((c) => c.effects)));
    } catch (err) {
      // Every member committed: each retry finds its inbox row and redoes the after-commit work from it.
      for (const { m } of committed) m.reject(err);
      return;
    }
    this.stats.groups += 1;
    this.stats.grouped += committed.length;
    commandGroupSize.observe(committed.length);
    for (const { m, rows } of committed) m.resolve({ outcome: 'completed', result: rows.result, replayed: false });
  }
}

const SPACE_PROPS = ['id', 'workspaceId', 'name', 'active', 'capacity', 'hourlyRate', 'dailyRate', 'monthlyRate'] as const satisfies readonly (keyof SlotSpace)[];
const WORKSPACE_PROPS = ['id', 'name', 'timezone', 'currency', 'taxRateBps'] as const satisfies readonly (keyof SlotWorkspace)[];
const USER_PROPS = ['id', 'email', 'name'] as const satisfies readonly (keyof CreateCatalogue['user'])[];

/**
 * The group's first statement: deletes the expired holds in its members' way (each judged at its own request time),
 * and reads what the members need — their spaces, those spaces' workspaces, their users — and which of them the
 * inbox already knows. One round trip.
 */
async function readCatalogue(em: EntityManager, members: { m: Member; payload: CreatePayload }[]) {
  const payloads = members.map((x) => x.payload);
  const holds = expiredHoldsDelete(payloads.map((p) => ({ spaceId: p.spaceId, startsAt: new Date(p.startsAt), endsAt: new Date(p.endsAt), now: new Date(p.requestedAt) })));
  const spaceIds = [...new Set(payloads.map((p) => p.spaceId))];
  const userIds = [...new Set(payloads.map((p) => p.actor.id))];
  const id = (schema: Parameters<typeof columnOfProp>[1], prop = 'id') => columnOfProp(em, schema, prop);
  const [row] = await query<{
    freed: string[];
    spaces: SlotSpace[];
    workspaces: SlotWorkspace[];
    users: CreateCatalogue['user'][];
    seen: string[];
  }>(
    em,
    `with "freed" as (${holds.sql})
    select
      (select coalesce(json_agg(distinct "space_id"), '[]') from "freed") as "freed",
      (select coalesce(json_agg(${jsonObjectOf(em, SpaceSchema, 's', SPACE_PROPS)}), '[]')
        from ${tableOf(em, SpaceSchema)} s where s.${id(SpaceSchema)} = any(?::uuid[])) as "spaces",
      (select coalesce(json_agg(${jsonObjectOf(em, WorkspaceSchema, 'w', WORKSPACE_PROPS)}), '[]')
        from ${tableOf(em, WorkspaceSchema)} w
        where w.${id(WorkspaceSchema)} in (select ${id(SpaceSchema, 'workspaceId')} from ${tableOf(em, SpaceSchema)} where ${id(SpaceSchema)} = any(?::uuid[]))) as "workspaces",
      (select coalesce(json_agg(${jsonObjectOf(em, UserSchema, 'u', USER_PROPS)}), '[]')
        from ${tableOf(em, UserSchema)} u where u.${id(UserSchema)} = any(?::uuid[])) as "users",
      (select coalesce(json_agg(c.${id(ProcessedCommandSchema)}), '[]')
        from ${tableOf(em, ProcessedCommandSchema)} c where c.${id(ProcessedCommandSchema)} = any(?::varchar[])) as "seen"`,
    [...holds.bindings, spaceIds, spaceIds, userIds, members.map((x) => x.m.job.id)],
  );
  return {
    freed: row!.freed,
    spaces: new Map(row!.spaces.map((s) => [s.id, s])),
    workspaces: new Map(row!.workspaces.map((w) => [w.id, w])),
    users: new Map(row!.users.map((u) => [u.id, u])),
    seen: new Set(row!.seen),
  };
}

export function mergeEffects(all: CommandEffects[]): CommandEffects {
  const merged = emptyEffects();
  for (const e of all) {
    for (const key of ['bookingIds', 'userIds', 'workspaceIds', 'spaceIds'] as const) for (const id of e[key]) merged[key].add(id);
    merged.outboxIds.push(...e.outboxIds);
    merged.events.push(...e.events);
  }
  return merged;
}
