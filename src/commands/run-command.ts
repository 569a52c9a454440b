import type { MikroORM } from '@mikro-orm/postgresql';
import { ProcessedCommandSchema, type StoredEffects } from '../db/entities/index.js';
import { inTransaction } from '../db/orm.js';
import { pgCode, pgConstraint, SQLSTATE } from '../db/pg-errors.js';
import { DomainError, isDomainError } from '../domain/errors.js';
import { commandSchemas, isCommandName, type CommandResult, type JobError } from '../jobs/catalogue.js';
import { commandHandlers } from './handlers.js';
import { CommandContext, loadEffects, storeEffects, type CommandEffects } from './context.js';

export interface CommandJob {
  id: string;
  name: string;
  data: unknown;
}

export type CommandOutcome =
  | { outcome: 'completed'; result: CommandResult; replayed: boolean }
  | { outcome: 'failed'; error: JobError; replayed: boolean };

export interface CommandHooks {
  /** Runs after a command's transaction committed (cache eviction, outbox publishing). Must not throw. */
  afterCommit?: (effects: CommandEffects) => Promise<void>;
}

/**
 * Turns what went wrong inside a command into a refusal with a stable code, or undefined for a fault that is
 * worth retrying (connection loss, deadlock, serialization failure, anything unknown).
 */
export function toRefusal(e: unknown): DomainError | undefined {
  if (isDomainError(e)) return e;
  switch (pgCode(e)) {
    case SQLSTATE.exclusionViolation:
      return new DomainError('slot_unavailable', 'The space is already booked or held for an overlapping time');
    case SQLSTATE.foreignKeyViolation:
      return new DomainError('not_found', 'A record this command refers to no longer exists');
    case SQLSTATE.uniqueViolation:
      // The database's word on "one review per booking", for two reviews racing past the handler's check.
      if (pgConstraint(e) === 'booking_reviews_booking_id_unique') return new DomainError('already_reviewed', 'This booking has already been reviewed');
      break;
  }
  return undefined;
}

async function storedOutcome(orm: MikroORM, id: string): Promise<(CommandOutcome & { effects?: StoredEffects }) | undefined> {
  const row = await orm.em.fork().findOne(ProcessedCommandSchema, id);
  if (!row) return undefined;
  return row.outcome === 'completed'
    ? { outcome: 'completed', result: row.result as CommandResult, replayed: true, ...(row.effects ? { effects: row.effects } : {}) }
    : { outcome: 'failed', error: row.error as JobError, replayed: true };
}

/** A command seen before: its stored outcome, after redoing its after-commit work (idempotent) if it has any. */
async function replay(stored: CommandOutcome & { effects?: StoredEffects }, hooks: CommandHooks): Promise<CommandOutcome> {
  // The first delivery may have died after its commit and before its after-commit work (eviction, publishing of
  // still-unpublished outbox rows): redo it before the job can be reported completed.
  const { effects, ...outcome } = stored;
  if (effects) await hooks.afterCommit?.(loadEffects(effects));
  return outcome;
}

/**
 * Runs one booking command exactly once in effect. The inbox row (keyed by the job id) commits in the same
 * transaction as the change, so a command can never commit twice: a redelivered or re-added job collides with its
 * own inbox row (or is refused by the state its first run left behind) and returns the stored outcome instead;
 * two concurrent deliveries collide on the inbox primary key and the loser reads the winner's outcome.
 * Refusals are recorded too, so a replay of a refused command is refused the same way.
 *
 * The inbox is read only when the transaction fails, not before every command: replays are rare, and a lookup
 * per command was one more round trip on the hot path.
 */
export async function executeCommand(orm: MikroORM, job: CommandJob, hooks: CommandHooks = {}): Promise<CommandOutcome> {
  if (!isCommandName(job.name)) {
    return recordRefusal(orm, job, null, new DomainError('invalid_payload', `Unknown command ${job.name}`), hooks);
  }
  const parsed = commandSchemas[job.name].safeParse(job.data);
  if (!parsed.success) {
    return recordRefusal(orm, job, null, new DomainError('invalid_payload', `Malformed ${job.name} payload`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    }), hooks);
  }
  const payload = parsed.data;
  const handler = commandHandlers[job.name] as (ctx: CommandContext, p: typeof payload) => Promise<CommandResult>;

  let committed: { result: CommandResult; effects: CommandEffects };
  try {
    committed = await inTransaction(orm, async (em) => {
      const ctx = new CommandContext(em, job.id, payload.actor, new Date(payload.requestedAt));
      const result = await handler(ctx, payload);
      em.create(ProcessedCommandSchema, inboxRow(job, payload, result, ctx.effects));
      return { result, effects: ctx.effects };
    });
  } catch (e) {
    const stored = await storedOutcome(orm, job.id);
    if (stored) return replay(stored, hooks);
    const refusal = toRefusal(e);
    if (!refusal) throw e;
    return recordRefusal(orm, job, payload, refusal, hooks);
  }
  await hooks.afterCommit?.(committed.effects);
  return { outcome: 'completed', result: committed.result, replayed: false };
}

/** What an inbox row keeps of a command's payload: who asked, when, and the request's fingerprint. */
export type InboxPayload = { actor: { id: string }; requestedAt: string; fingerprint?: string | null | undefined };

/** The inbox row of a command that completed, written in its transaction. */
export function inboxRow(
  job: CommandJob,
  payload: InboxPayload,
  result: CommandResult,
  effects: CommandEffects,
) {
  return {
    id: job.id,
    name: job.name,
    userId: payload.actor.id,
    fingerprint: payload.fingerprint ?? null,
    outcome: 'completed' as const,
    result,
    error: null,
    effects: storeEffects(effects),
    requestedAt: new Date(payload.requestedAt),
    processedAt: new Date(),
  };
}

/**
 * A command whose retries ran out on a fault (or whose data Postgres refuses: no retry would help) recorded as
 * `internal_error`, so its status stays answerable (and an
 * Idempotency-Key replay returns it) after BullMQ trims the job. Best effort: Postgres may be the fault.
 */
export async function recordExhausted(orm: MikroORM, job: CommandJob, message = 'The command failed after all its retries'): Promise<void> {
  const data = job.data as { actor?: { id?: unknown }; requestedAt?: unknown; fingerprint?: unknown } | undefined;
  const payload =
    typeof data?.actor?.id === 'string' && typeof data.requestedAt === 'string'
      ? { actor: { id: data.actor.id }, requestedAt: data.requestedAt, fingerprint: typeof data.fingerprint === 'string' ? data.fingerprint : null }
      : null;
  await recordRefusal(orm, job, payload, new DomainError('internal_error', message), {});
}

async function recordRefusal(
  orm: MikroORM,
  job: CommandJob,
  payload: InboxPayload | null,
  refusal: DomainError,
  hooks: CommandHooks,
): Promise<CommandOutcome> {
  const error = refusal.toJSON();
  if (await insertRefusal(orm, job, payload, error)) return { outcome: 'failed', error, replayed: false };
  // A concurrent delivery recorded first: its outcome is the one that counts.
  const stored = await storedOutcome(orm, job.id);
  return stored ? replay(stored, hooks) : { outcome: 'failed', error, replayed: false };
}

/** The inbox row of a refused command, unless the command has one already: true when this one was written. */
async function insertRefusal(
  orm: MikroORM,
  job: Pick<CommandJob, 'id' | 'name'>,
  payload: InboxPayload | null,
  error: JobError,
): Promise<boolean> {
  const inserted = await orm.em
    .fork()
    .createQueryBuilder(ProcessedCommandSchema)
    .insert({
      id: job.id,
      name: job.name.slice(0, 64),
      userId: payload?.actor.id ?? null,
      fingerprint: payload?.fingerprint ?? null,
      outcome: 'failed',
      result: null,
      error,
      requestedAt: payload ? new Date(payload.requestedAt) : new Date(),
      processedAt: new Date(),
    })
    .onConflict('id')
    .ignore()
    .execute('run');
  return inserted.affectedRows === 1;
}

/**
 * Fences a command whose add the API could not confirm (Redis timed out or dropped the connection after the add
 * may have been sent): an add held up in Redis or on the way can still arrive and run after the client was told
 * 503. The fence is the command's inbox row, a refusal (`service_unavailable`), so a late run meets it and changes
 * nothing, as any redelivery does (executeCommand). True: fenced, the command will never apply. False: its inbox row
 * was there first, so the add did arrive and the command ran (or runs now: the insert waits for its transaction).
 */
export function fenceUnconfirmedAdd(
  orm: MikroORM,
  job: Pick<CommandJob, 'id' | 'name'>,
  payload: InboxPayload,
): Promise<boolean> {
  const refusal = new DomainError('service_unavailable', 'Redis did not confirm this command was queued, so the API answered 503 and it was not applied');
  return insertRefusal(orm, job, payload, refusal.toJSON());
}
