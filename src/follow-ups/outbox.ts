import { LockMode, type EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import type { BulkJobOptions, Queue } from 'bullmq';
import type { CommandEffects } from '../commands/context.js';
import type { AppConfig } from '../config.js';
import { OutboxSchema, type Outbox } from '../db/entities/index.js';
import { inTransaction, type Orm } from '../db/orm.js';
import { query } from '../db/sql.js';
import { notificationJobId } from '../jobs/catalogue.js';

/**
 * Outbox → `notifications` queue. Rows are written in a command's transaction (CommandContext.emit); this module
 * publishes them: right after commit (the after-commit step), and from the scheduler's relay for rows left behind
 * (the worker died between commit and enqueue, Redis was down). Both go through `publishLocked`: rows are locked
 * with FOR UPDATE SKIP LOCKED, enqueued with addBulk under jobId `outbox-<id>`, and marked published in the same
 * transaction. A row published twice (a crash after enqueue, before commit) is deduplicated by the job id while
 * BullMQ holds the job, and by the handlers' own records after that.
 */
export interface OutboxDeps {
  orm: Orm;
  queues: { notifications: Queue };
  config: Pick<AppConfig, 'followUps' | 'queue'>;
}

export function eventJobOptions(config: OutboxDeps['config'], outboxId: string): BulkJobOptions {
  const { attempts, backoffMs } = config.followUps.event;
  const { keepCompleted, keepFailed } = config.queue;
  return {
    jobId: notificationJobId.event(outboxId),
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    removeOnComplete: { age: keepCompleted.age, count: keepCompleted.count },
    removeOnFail: { age: keepFailed.age, count: keepFailed.count },
  };
}

/** The one way an outbox row becomes a job: named after its event type, carrying the outbox id and the event. */
export function outboxJob(config: OutboxDeps['config'], row: Pick<Outbox, 'id' | 'eventType' | 'payload'>) {
  return { name: row.eventType, data: { outboxId: row.id, payload: row.payload }, opts: eventJobOptions(config, row.id) };
}

/** Locks the matching unpublished rows (skipping rows another publisher holds), enqueues them, marks them published. */
async function publishLocked(em: EntityManager, deps: OutboxDeps, where: FilterQuery<Outbox>, limit: number): Promise<number> {
  const rows = await em.find(OutboxSchema, { ...(where as object), publishedAt: null } as FilterQuery<Outbox>, {
    orderBy: { createdAt: 'asc', id: 'asc' },
    limit,
    lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE,
  });
  if (!rows.length) return 0;
  await deps.queues.notifications.addBulk(rows.map((row) => outboxJob(deps.config, row)));
  await em.nativeUpdate(OutboxSchema, { id: { $in: rows.map((r) => r.id) } }, { publishedAt: new Date() });
  return rows.length;
}

/**
 * After commit: publishes a command's (or sweep's) own outbox rows. The process that wrote them holds them, so it
 * enqueues them with one addBulk and hands their ids to `marks` (one guarded UPDATE for the rows of many commands,
 * written after the job has moved on), without locking: a relay racing it can only enqueue the same job ids, which
 * BullMQ deduplicates. Effects reloaded from the inbox (a redelivered command) carry only ids: those rows are read,
 * locked and published like the relay does. Returns how many it published.
 */
export async function publishCommitted(
  deps: OutboxDeps & { marks: PublishMarks },
  effects: Pick<CommandEffects, 'outboxIds' | 'events'>,
): Promise<number> {
  if (!effects.outboxIds.length) return 0;
  if (effects.events.length !== effects.outboxIds.length) return publishOutbox(deps, effects.outboxIds);
  await deps.queues.notifications.addBulk(effects.events.map((row) => outboxJob(deps.config, row)));
  deps.marks.add(effects.outboxIds);
  return effects.events.length;
}

/**
 * Marks rows published (at ?, the ids ?). A row the relay marked first keeps its mark (coalesce), a condition kept out
 * of the WHERE clause on purpose: with `published_at is null` there, the planner may read the rows through the partial
 * index of unpublished rows, whose dead entries (every row marked since the last VACUUM) it then walks at each mark,
 * where the primary key finds them.
 */
export const MARK_PUBLISHED_UPDATE = `update "outbox" set "published_at" = coalesce("published_at", ?) where "id" = any(?::uuid[])`;

/**
 * Marks a command's own rows published, in a statement of its own. The mark is bookkeeping for the relay (the enqueue
 * above is the publish), so its commit does not wait for the WAL flush (`synchronous_commit` off for this one
 * statement's transaction): a mark lost to a Postgres crash only makes the relay enqueue the rows again under the same
 * job ids.
 */
export const MARK_PUBLISHED_SQL = `with "async_commit" as (select set_config('synchronous_commit', 'off', true))
  ${MARK_PUBLISHED_UPDATE} and exists (select 1 from "async_commit")`;

/**
 * The published marks of one process, written together `delayMs` after the first of them, one statement at a time,
 * unless an event statement of the process takes them on its way first (`take`). Being bookkeeping (above), a mark
 * need not hold up its command: at a light load each command's mark was a statement and a round trip of its own on
 * the way to "completed" (docs/performance-log.md). A mark that is never
 * written (the process died, Postgres was down) leaves its rows to the relay, which re-enqueues them under the same
 * job ids once they are `OUTBOX_RELAY_GRACE_MS` old; so the delay must stay well below that grace.
 * `close()` writes what is pending: call it before the ORM closes.
 */
export class PublishMarks {
  private ids: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly orm: Orm,
    private readonly delayMs: number,
    private readonly onError: (err: unknown, ids: readonly string[]) => void,
  ) {}

  add(ids: readonly string[]): void {
    this.ids.push(...ids);
    if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.delayMs);
  }

  /**
   * Hands the pending marks to a statement that writes them on its way (the event fan-out of the same process, in
   * ./notification.handlers.ts): this one's own statement is then not needed. If that statement fails, `add` them back.
   */
  take(): string[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ids = this.ids;
    this.ids = [];
    return ids;
  }

  /** Writes the pending marks now (after any write in progress); resolves when they are written or failed. */
  flush(): Promise<void> {
    const ids = this.take();
    if (ids.length)
      this.writing = this.writing.then(() =>
        query(this.orm.em, MARK_PUBLISHED_SQL, [new Date(), ids]).then(
          () => undefined,
          (err: unknown) => this.onError(err, ids),
        ),
      );
    return this.writing;
  }

  /** Marks waiting to be written. */
  get pending(): number {
    return this.ids.length;
  }

  close(): Promise<void> {
    return this.flush();
  }
}

/** Publishes the given outbox rows that are still unpublished, locked. Returns how many it published. */
export async function publishOutbox(deps: OutboxDeps, ids: readonly string[]): Promise<number> {
  if (!ids.length) return 0;
  return inTransaction(deps.orm, (em) => publishLocked(em, deps, { id: { $in: [...ids] } }, ids.length));
}

/**
 * The relay: publishes rows still unpublished `relayGraceMs` after they were written (younger ones are left to their
 * command's after-commit step), in batches of `relayBatch`, until none is left. `now` is injected for tests.
 */
export async function relayOutbox(deps: OutboxDeps, now = new Date()): Promise<number> {
  const { relayGraceMs, relayBatch } = deps.config.followUps;
  const before = new Date(now.getTime() - relayGraceMs);
  let total = 0;
  for (;;) {
    const n = await inTransaction(deps.orm, (em) => publishLocked(em, deps, { createdAt: { $lte: before } }, relayBatch));
    total += n;
    if (n < relayBatch) return total;
  }
}

/** Deletes published rows older than the retention, in batches. Unpublished rows are never pruned. */
export async function pruneOutbox(orm: Orm, retentionSeconds: number, now = new Date(), batchSize = 1000): Promise<number> {
  const before = new Date(now.getTime() - retentionSeconds * 1000);
  const connection = orm.em.getConnection();
  let total = 0;
  for (;;) {
    const res = await connection.execute<{ affectedRows: number }>(
      `delete from "outbox" where "id" in (select "id" from "outbox" where "published_at" is not null and "published_at" < ? order by "published_at" limit ?)`,
      [before, batchSize],
      'run',
    );
    total += res.affectedRows;
    if (res.affectedRows < batchSize) return total;
  }
}
