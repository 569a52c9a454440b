import type { MikroORM } from '@mikro-orm/postgresql';
import { ProcessedCommandSchema, SpaceSchema, UserSchema, WorkspaceSchema } from '../db/entities/index.js';
import { commandGroupFallbacks, commandGroupSize } from '../metrics.js';
import { commandSchemas, type CommandPayload, type CommandResult } from '../jobs/catalogue.js';
import { commandHandlers } from './handlers.js';
import { clearExpiredHoldsOf } from './claims.js';
import { CommandContext, emptyEffects, type CommandEffects } from './context.js';
import { executeCommand, inboxRow, type CommandHooks, type CommandJob, type CommandOutcome } from './run-command.js';

/**
 * Group commit: booking creates that arrive together run in ONE transaction (one BEGIN/COMMIT, one flush that
 * inserts every member's rows with one multi-row INSERT per table, the catalogue rows they need read once, the
 * expired holds in their way deleted by one statement), then
 * share one after-commit step (one eviction round trip, one addBulk). One transaction per command costs round
 * trips and CPU on both sides; this is where figure 1 of `npm run bench` spent them.
 *
 * The guarantees stay per command: each member writes its own inbox row with its own result and effects, in the
 * same transaction as its change, so a crash commits all or nothing and every redelivery finds its own outcome.
 * A group is all-or-nothing, so it never decides who wins: if anything fails inside it (a refusal, two members
 * claiming overlapping slots, a replayed member colliding with its own inbox row, a fault), nothing committed and
 * each member runs alone through `executeCommand`, which records refusals and replays exactly as without groups.
 *
 * Only `booking.create` groups: it locks no existing row, so members cannot wait on each other; commands on an
 * existing booking take its row lock and run alone. Groups form naturally: while one commits, the jobs the worker
 * picks up meanwhile wait and go together in the next (one group in flight per process; a lone job runs alone at
 * once, so a light load pays no latency for this).
 */
const GROUPABLE = new Set(['booking.create']);

type CreatePayload = CommandPayload<'booking.create'>;
interface Member {
  job: CommandJob;
  resolve: (o: CommandOutcome) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private waiting: Member[] = [];
  private draining = false;
  /** Transactions that committed a group, and the commands they held (for tests and the logs). */
  readonly stats = { groups: 0, grouped: 0, fellBack: 0 };

  constructor(
    private readonly orm: MikroORM,
    private readonly hooks: CommandHooks,
    /** Most commands per transaction; 1 turns grouping off. */
    private readonly maxGroup: number,
  ) {}

  execute(job: CommandJob): Promise<CommandOutcome> {
    if (this.maxGroup <= 1 || !GROUPABLE.has(job.name)) return executeCommand(this.orm, job, this.hooks);
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      // Start on the next turn of the event loop, so jobs the worker hands over in the same turn go together.
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length) await this.run(this.waiting.splice(0, this.maxGroup));
    } finally {
      this.draining = false;
    }
  }

  /** Settles every member; never throws. */
  private async run(group: Member[]): Promise<void> {
    const alone = (m: Member) => executeCommand(this.orm, m.job, this.hooks).then(m.resolve, m.reject);
    const parsed = group.map((m) => ({ m, p: commandSchemas['booking.create'].safeParse(m.job.data) }));
    const members = parsed.flatMap(({ m, p }) => (p.success ? [{ m, payload: p.data }] : []));
    const malformed = parsed.filter(({ p }) => !p.success).map(({ m }) => m);
    if (members.length <= 1) {
      await Promise.all(group.map(alone));
      return;
    }
    void Promise.all(malformed.map(alone));

    let committed: { m: Member; result: CommandResult; effects: CommandEffects }[];
    try {
      committed = await this.orm.em.fork().transactional(async (em) => {
        const payloads = members.map((x) => x.payload);
        await prefetch(em, payloads);
        const freed = new Set(
          await clearExpiredHoldsOf(
            em,
            payloads.map((p) => ({ spaceId: p.spaceId, startsAt: new Date(p.startsAt), endsAt: new Date(p.endsAt), now: new Date(p.requestedAt) })),
          ),
        );
        const out = [];
        for (const { m, payload } of members) {
          const ctx = new CommandContext(em, m.job.id, payload.actor, new Date(payload.requestedAt));
          ctx.expiredHoldsCleared = true;
          if (freed.has(payload.spaceId)) ctx.effects.spaceIds.add(payload.spaceId);
          const result = await commandHandlers['booking.create'](ctx, payload);
          em.create(ProcessedCommandSchema, inboxRow(m.job, payload, result, ctx.effects));
          out.push({ m, result, effects: ctx.effects });
        }
        return out;
      });
    } catch {
      // Nothing committed: each member alone decides its own outcome (see the class comment).
      this.stats.fellBack += members.length;
      commandGroupFallbacks.inc(members.length);
      await Promise.all(members.map(({ m }) => alone(m)));
      return;
    }
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
    for (const { m, result } of committed) m.resolve({ outcome: 'completed', result, replayed: false });
  }
}

/** The spaces, workspaces and actors of the group in three queries; handlers then find them in the identity map. */
async function prefetch(em: CommandContext['em'], payloads: CreatePayload[]): Promise<void> {
  const spaces = await em.find(SpaceSchema, { id: { $in: [...new Set(payloads.map((p) => p.spaceId))] } });
  await em.find(WorkspaceSchema, { id: { $in: [...new Set(spaces.map((s) => s.workspaceId))] } });
  await em.find(UserSchema, { id: { $in: [...new Set(payloads.map((p) => p.actor.id))] } });
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
