import type { BulkJobOptions, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config.js';
import { EmailSendSchema, WebhookDeliverySchema, WebhookEndpointSchema } from '../db/entities/index.js';
import { Coalescer } from '../db/coalesce.js';
import { onePer } from '../one-per.js';
import type { Orm } from '../db/orm.js';
import { query } from '../db/sql.js';
import {
  emailRecipientKey,
  notificationJobId,
  type BookingEventJobData,
  type BookingEventPayload,
  type BookingEventType,
  type NotificationJobData,
  type NotificationJobName,
} from '../jobs/catalogue.js';
import type { Logger } from '../logger.js';
import type { EvictionTargets } from '../cache/read-cache.js';
import type { EmailChannel } from './email.js';
import { MARK_PUBLISHED_UPDATE, type PublishMarks } from './outbox.js';
import { renderEmail, renderGuestEmail, renderNotification } from './templates.js';
import { postWebhook, webhookBody } from './webhooks.js';

/**
 * Handlers of the `notifications` queue, one per job name. Each is idempotent on its own record:
 * - a booking event writes one Notification (unique outbox id) for the member, makes the first attempt at the
 *   member's email and each guest's, and fans out one webhook job per matching endpoint and one email job per email
 *   whose first attempt failed, with job ids derived from the outbox id and the recipient or endpoint, so a replay
 *   adds nothing twice;
 * - an email is claimed in `email_sends` before it is sent and never sent again once recorded `sent`;
 * - a webhook delivery row (unique endpoint + outbox id) counts attempts and ends `delivered` or `failed`.
 * Handlers return what they did ("already done" is an outcome); faults worth retrying throw.
 */
export interface NotificationDeps {
  orm: Orm;
  queues: { notifications: Queue; deadLetter: Queue };
  config: Pick<AppConfig, 'followUps' | 'queue'>;
  logger: Logger;
  mailer: EmailChannel;
  /** This process's pending published marks (./outbox.ts), written by the event statements on their way. */
  marks?: PublishMarks;
  /** The read cache's eviction (src/cache/read-cache.ts), for the events of SWEPT_EVENT_TYPES. */
  evictCache?: (targets: EvictionTargets) => Promise<void>;
}

/**
 * The events a sweep writes (auto-complete, expiry). A sweep evicts the cached reads of what it moved after its
 * commit, with retries (src/maintenance/after-sweep.ts), but has no inbox row to redo that from: a scheduler killed
 * between the commit and the eviction left those reads stale until their TTL. Its events are durable (the outbox
 * relay republishes them), so their jobs evict the booking's entries again: at most a relay interval later, and a
 * second eviction of a fresh entry costs one read from Postgres. Commands redo theirs from the inbox, so the
 * other event types are left alone (and a create's job does no extra round trip).
 */
export const SWEPT_EVENT_TYPES: ReadonlySet<BookingEventType> = new Set(['BOOKING_COMPLETED', 'BOOKING_CANCELLED']);

/** About the job being run: `final` is true on its last attempt (a failure then is for good); `log` is bound to it. */
export interface JobInfo {
  id: string;
  final: boolean;
  log?: Logger;
}

export type JobOutcome = { outcome: string } & Record<string, unknown>;
export type NotificationHandler<N extends NotificationJobName> = (data: NotificationJobData<N>, job: JobInfo) => Promise<JobOutcome>;
/** The compiler rejects a job name without a handler. */
export type NotificationHandlers = { [N in NotificationJobName]: NotificationHandler<N> };

/** A claim on an email older than this is taken to be abandoned (its worker died mid-send) and may be retried. */
export const EMAIL_CLAIM_LEASE_SECONDS = 60;

function retryOptions(config: NotificationDeps['config'], jobId: string, retry: { attempts: number; backoffMs: number }): BulkJobOptions {
  const { keepCompleted, keepFailed } = config.queue;
  return {
    jobId,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: { age: keepCompleted.age, count: keepCompleted.count },
    removeOnFail: { age: keepFailed.age, count: keepFailed.count },
  };
}

export function createNotificationHandlers(deps: NotificationDeps): NotificationHandlers {
  const onEvent =
    (type: BookingEventType) =>
    (data: BookingEventJobData, job: JobInfo): Promise<JobOutcome> =>
      handleBookingEvent(deps, type, data, job.log);
  return {
    BOOKING_CREATED: onEvent('BOOKING_CREATED'),
    BOOKING_CONFIRMED: onEvent('BOOKING_CONFIRMED'),
    BOOKING_CANCELLED: onEvent('BOOKING_CANCELLED'),
    BOOKING_CHECKED_IN: onEvent('BOOKING_CHECKED_IN'),
    BOOKING_CHECKED_OUT: onEvent('BOOKING_CHECKED_OUT'),
    BOOKING_COMPLETED: onEvent('BOOKING_COMPLETED'),
    'email.send': (data, job) => sendEmail(deps, data, job.log),
    'webhook.deliver': (data, job) => deliverWebhook(deps, data, job),
  };
}

/** An email's claim in `email_sends`: its row and the attempt this is. */
type EmailClaimed = { id: string; attempts: number };

/**
 * What the event's statement answers for it: was the notification new, the matching endpoints, the booking's guests,
 * and the member's email claim (null when the event asked for none or it was not taken: see {@link sendEmail}).
 */
interface EventFanOut {
  inserted: boolean;
  endpoints: string[];
  guests: { id: string; name: string; email: string }[];
  claim: EmailClaimed | null;
}

/** One event's part of {@link EVENT_FAN_OUT_SQL}. */
interface EventRow {
  id: string;
  userId: string;
  type: BookingEventType;
  title: string;
  body: string;
  data: BookingEventPayload;
  outboxId: string;
  at: Date;
  workspaceId: string;
  bookingId: string;
  /** The member's address, to claim its email in the same statement; null when the member has none. */
  memberEmail: string | null;
  /** The `email_sends` row id for that claim. */
  claimId: string;
}

/**
 * One round trip for a batch of events (one, at a light load: see {@link statementsOf}). For each: inserts the
 * notification (ON CONFLICT DO NOTHING), reads the workspace's active endpoints subscribed to the type and inserts
 * their pending delivery rows (ON CONFLICT DO NOTHING), claims the member's email as {@link EMAIL_CLAIM_SQL} does (a
 * statement and a commit fewer per event than claiming it apart), writes the process's pending outbox published marks
 * (a statement fewer per few commands at a light load, where every mark went alone: see PublishMarks), and reads the
 * booking's guests in their listed order. Read
 * fresh on every run (no cache): an endpoint registered or disabled a moment ago counts as it would have with
 * separate statements. Data-modifying CTEs run on one snapshot; the whole statement commits or fails as one. The
 * events travel as one JSON parameter (the stored `data` is each event's payload as it came).
 */
const EVENT_FAN_OUT_SQL = `with "ev" as (
    select * from jsonb_to_recordset(?::jsonb) as e("i" int, "id" uuid, "userId" uuid, "type" text, "title" text, "body" text,
      "data" jsonb, "outboxId" uuid, "at" timestamptz, "workspaceId" uuid, "bookingId" uuid, "memberEmail" text, "claimId" uuid)
  ), "inserted" as (
    insert into "notifications" ("id", "user_id", "type", "title", "body", "data", "outbox_id", "read_at", "created_at")
    select "id", "userId", "type", "title", "body", "data", "outboxId", null, "at" from "ev"
    on conflict ("outbox_id") do nothing
    returning "outbox_id"
  ), "endpoints" as (
    select ev."i", we."id" from "ev" join "webhook_endpoints" we
      on we."workspace_id" = ev."workspaceId" and we."active" and we."event_types" @> jsonb_build_array(ev."type")
  ), "deliveries" as (
    insert into "webhook_deliveries" ("id", "endpoint_id", "outbox_id", "event_type", "status", "attempts", "status_code", "last_error", "delivered_at", "created_at", "updated_at")
    select gen_random_uuid(), en."id", ev."outboxId", ev."type", 'pending', 0, null, null, null, ev."at", ev."at"
    from "endpoints" en join "ev" on ev."i" = en."i"
    on conflict ("endpoint_id", "outbox_id") do nothing
  ), "claims" as (
    ${claimSql(`select "claimId", "outboxId", "memberEmail", "type" from "ev" where "memberEmail" is not null`)}
  ), "marked" as (
    ${MARK_PUBLISHED_UPDATE}
  )
  select ev."i",
    exists (select 1 from "inserted" n where n."outbox_id" = ev."outboxId") as "inserted",
    (select json_build_object('id', c."id", 'attempts', c."attempts") from "claims" c where c."outbox_id" = ev."outboxId") as "claim",
    coalesce((select json_agg(en."id" order by en."id") from "endpoints" en where en."i" = ev."i"), '[]') as "endpoints",
    coalesce((select json_agg(json_build_object('id', g."id", 'name', g."name", 'email', g."email") order by g."position", g."id")
              from "guests" g where g."booking_id" = ev."bookingId"), '[]') as "guests"
  from "ev" order by ev."i"`;

/**
 * Claims the (id, outbox id, recipient, event type) rows `source` selects, for sending: a new pair, a `failed` one
 * or an abandoned claim (older than the lease) is taken; answers the pairs claimed (see {@link sendEmail}).
 */
function claimSql(source: string): string {
  return `insert into "email_sends" ("id", "outbox_id", "recipient", "event_type", "status", "attempts", "claimed_at", "created_at")
  select *, 'sending', 1, now(), now() from (${source}) as "claim"
  on conflict ("outbox_id", "recipient") do update
    set "status" = 'sending', "attempts" = "email_sends"."attempts" + 1, "claimed_at" = now(), "last_error" = null
    where "email_sends"."status" = 'failed'
       or ("email_sends"."status" = 'sending' and "email_sends"."claimed_at" < now() - make_interval(secs => ${EMAIL_CLAIM_LEASE_SECONDS}))
  returning "id", "outbox_id", "recipient", "attempts"`;
}

/** Claims the (outbox id, recipient) pairs of one JSON parameter: a retry's email, a guest's. */
const EMAIL_CLAIM_SQL = claimSql(`select * from jsonb_to_recordset(?::jsonb) as c("id" uuid, "outboxId" uuid, "recipient" text, "eventType" text)`);

/**
 * The rows by `id = any(…)`, each one's message id picked from the parallel array: the primary key finds them. Joined
 * to a recordset instead, the planner counts on its default 100 rows and hashes them against a scan of the whole
 * table for as long as that looks cheaper than 100 index probes: still at 6,000 rows (0.5–1 ms per statement in the
 * plans of `npm run bench`, growing with the table), no longer at 100,000.
 */
export const EMAIL_SENT_SQL = `update "email_sends" set "status" = 'sent', "sent_at" = now(), "message_id" = (?::text[])[array_position(?::uuid[], "id")]
  where "id" = any(?::uuid[])`;

type EmailClaim = { outboxId: string; recipient: string; eventType: BookingEventType };
const emailKey = (outboxId: string, recipient: string) => `${outboxId.toLowerCase()} ${recipient}`;

/**
 * The follow-ups' hot statements, one coalescer each per ORM (src/db/coalesce.ts): an event, an email claim and an
 * email's `sent` record that arrive while the same statement is in flight go together in the next one. The jobs
 * still run one by one as far as BullMQ and their outcomes go; only their round trips are shared. (One statement
 * for all three kinds was tried: no less CPU, and its writes waited longer for one another.)
 */
const statementsOf = onePer((orm: Orm) => createStatements(orm));

function createStatements(orm: Orm) {
  return {
    event: new Coalescer<{ row: EventRow; marks: PublishMarks | undefined }, EventFanOut>(
      async (events) => {
        const carried = [...new Set(events.map((e) => e.marks))].flatMap((marks) => (marks ? [{ marks, ids: marks.take() }] : []));
        try {
          const rows = await query<EventFanOut & { i: number }>(orm.em, EVENT_FAN_OUT_SQL, [
            JSON.stringify(events.map((e, i) => ({ i, ...e.row }))),
            new Date(),
            carried.flatMap((c) => c.ids),
          ]);
          return rows.map(({ inserted, endpoints, guests, claim }) => ({ inserted, endpoints, guests, claim }));
        } catch (err) {
          for (const { marks, ids } of carried) marks.add(ids);
          throw err;
        }
      },
      { name: 'notification-event', maxBatch: 50, key: (e) => e.row.outboxId.toLowerCase() },
    ),
    claim: new Coalescer<EmailClaim, EmailClaimed | undefined>(
      async (claims) => {
        const rows = await query<{ id: string; outbox_id: string; recipient: string; attempts: number }>(orm.em, EMAIL_CLAIM_SQL, [
          JSON.stringify(claims.map((c) => ({ id: randomUUID(), ...c }))),
        ]);
        // Postgres answers uuids in lower case.
        const claimed = new Map(rows.map((r) => [emailKey(r.outbox_id, r.recipient), { id: r.id, attempts: r.attempts }]));
        return claims.map((c) => claimed.get(emailKey(c.outboxId, c.recipient)));
      },
      { name: 'email-claim', maxBatch: 50, key: (c) => emailKey(c.outboxId, c.recipient) },
    ),
    sent: new Coalescer<{ id: string; messageId: string }, void>(
      async (sends) => {
        const ids = sends.map((s) => s.id);
        await query(orm.em, EMAIL_SENT_SQL, [sends.map((s) => s.messageId), ids, ids]);
        return sends.map(() => undefined);
      },
      { name: 'email-sent', maxBatch: 50, key: (s) => s.id },
    ),
  };
}

/**
 * In-app notification + fan-out. Always fans out (a crash after the insert must not lose the email or webhooks).
 * The booking's guests are read here, by booking id, when the event is handled (guests never change once a booking
 * exists, so a replay finds the same ones). A guest whose address is the member's, or an earlier guest's, is skipped
 * (compared case-insensitively): one event sends at most one email per address, so `email_sends` (unique outbox id +
 * address) records each send apart. The notification, the endpoints with their delivery rows and the guests take one
 * statement ({@link EVENT_FAN_OUT_SQL}, shared with the events handled meanwhile); the webhook jobs and the email retry
 * jobs one `addBulk`.
 */
export async function handleBookingEvent(deps: NotificationDeps, type: BookingEventType, data: BookingEventJobData, log?: Logger): Promise<JobOutcome> {
  const { outboxId, payload } = data;
  if (deps.evictCache && SWEPT_EVENT_TYPES.has(type)) {
    // Best effort: a cache outage must not hold up the notification (the sweep's own retries cover brief ones).
    const one = (id: string) => new Set([id]);
    await deps
      .evictCache({ bookingIds: one(payload.bookingId), userIds: one(payload.userId), workspaceIds: one(payload.workspaceId), spaceIds: one(payload.spaceId) })
      .catch((err: unknown) => log?.warn({ err: (err as Error)?.message ?? String(err) }, 'cache eviction of a swept booking failed'));
  }
  const content = renderNotification(type, payload);
  const hasEmail = payload.userEmail.includes('@');
  const row: EventRow = {
    id: randomUUID(),
    userId: payload.userId,
    type,
    title: content.title,
    body: content.body,
    data: payload,
    outboxId,
    at: new Date(),
    workspaceId: payload.workspaceId,
    bookingId: payload.bookingId,
    memberEmail: hasEmail ? payload.userEmail : null,
    claimId: randomUUID(),
  };
  const { inserted, endpoints, guests, claim } = await statementsOf(deps.orm).event.call({ row, marks: deps.marks });

  const { email, webhook } = deps.config.followUps;
  const emails: NotificationJobData<'email.send'>[] = [];
  const addresses = new Set<string>();
  if (hasEmail) {
    emails.push({ outboxId, eventType: type, userId: payload.userId, to: payload.userEmail, payload });
    addresses.add(payload.userEmail.toLowerCase());
  }
  for (const g of guests) {
    if (addresses.has(g.email.toLowerCase())) continue;
    addresses.add(g.email.toLowerCase());
    emails.push({ outboxId, eventType: type, userId: payload.userId, to: g.email, guest: { id: g.id, name: g.name }, payload });
  }

  // Each email's first attempt is made here, in the event's job: a job per email would add a job's whole round of
  // Redis scripts and wake-ups to every event. An email whose first attempt fails (the mail server refused it or
  // is down, another worker holds its claim) gets an `email.send` job of its own, with the email's retries and
  // dead letter, exactly as if it had been a job from the start; the event job itself completes.
  const handedOver: NotificationJobData<'email.send'>[] = [];
  await Promise.all(
    emails.map((data) =>
      // The member's email was claimed by the event's statement (claim: null when it was not to be taken).
      (data.guest ? sendEmail(deps, data, log) : sendClaimed(deps, data, claim ?? undefined, log)).catch((err: unknown) => {
        log?.warn({ err: (err as Error)?.message ?? String(err), to: emailRecipientKey(data) }, 'email not sent; retried by its own job');
        handedOver.push(data);
      }),
    ),
  );
  const jobs: { name: NotificationJobName; data: unknown; opts: BulkJobOptions }[] = handedOver.map((data) => ({
    name: 'email.send',
    data,
    opts: retryOptions(deps.config, notificationJobId.email(outboxId, emailRecipientKey(data)), email),
  }));
  for (const endpointId of endpoints) {
    const webhookJob: NotificationJobData<'webhook.deliver'> = { outboxId, eventType: type, endpointId, payload };
    jobs.push({ name: 'webhook.deliver', data: webhookJob, opts: retryOptions(deps.config, notificationJobId.webhook(outboxId, endpointId), webhook) });
  }
  if (jobs.length) await deps.queues.notifications.addBulk(jobs);
  const guestEmails = emails.filter((j) => j.guest).length;
  return { outcome: inserted ? 'created' : 'exists', emails: emails.length, guestEmails, emailsRetried: handedOver.length, webhooks: endpoints.length };
}

/**
 * Claims (outbox id, recipient) in `email_sends`, sends, records `sent`. A row already `sent` is never sent again; a
 * row another worker is sending (claimed within the lease) makes this attempt fail and retry later; a `failed` row
 * or an abandoned claim is taken over. A crash between the mail server's accept and the record can still send twice
 * once the lease has passed: that window is as small as one UPDATE.
 */
export async function sendEmail(deps: NotificationDeps, data: NotificationJobData<'email.send'>, log?: Logger): Promise<JobOutcome> {
  const { outboxId, eventType, to } = data;
  return sendClaimed(deps, data, await statementsOf(deps.orm).claim.call({ outboxId, recipient: to, eventType }), log);
}

/** sendEmail past its claim: `claim` is the claimed row, undefined when the claim was not taken. */
async function sendClaimed(deps: NotificationDeps, data: NotificationJobData<'email.send'>, claim: EmailClaimed | undefined, log?: Logger): Promise<JobOutcome> {
  const { outboxId, eventType, to, guest, payload } = data;
  const connection = deps.orm.em.getConnection();
  if (!claim) {
    const row = await deps.orm.em.fork().findOne(EmailSendSchema, { outboxId, recipient: to });
    if (row?.status === 'sent') return { outcome: 'skipped', reason: 'already sent', messageId: row.messageId };
    throw new Error(`email for event ${outboxId} is being sent by another worker; retrying later`);
  }

  const content = guest ? renderGuestEmail(eventType, payload, guest.name) : renderEmail(eventType, payload);
  let messageId: string;
  try {
    ({ messageId } = await deps.mailer.send({ to, toName: guest ? guest.name : payload.userName, ...content, headers: { 'X-Event-Id': outboxId, 'X-Event-Type': eventType } }, log));
  } catch (e) {
    await connection
      .execute(`update "email_sends" set "status" = 'failed', "last_error" = ? where "id" = ? and "status" = 'sending'`, [String((e as Error)?.message ?? e).slice(0, 2000), claim.id], 'run')
      .catch(() => undefined);
    throw e;
  }
  await statementsOf(deps.orm).sent.call({ id: claim.id, messageId });
  return { outcome: 'sent', messageId, attempts: claim.attempts, transport: deps.mailer.transport };
}

/**
 * One attempt at delivering one event to one endpoint. The secret is read here, by endpoint id, never from the job.
 * The attempt is counted before the request; the row ends `delivered`, or `failed` after the job's last attempt.
 */
export async function deliverWebhook(deps: NotificationDeps, data: NotificationJobData<'webhook.deliver'>, job: JobInfo): Promise<JobOutcome> {
  const { outboxId, eventType, endpointId, payload } = data;
  const em = deps.orm.em.fork();
  const connection = em.getConnection();
  const endpoint = await em.findOne(WebhookEndpointSchema, endpointId);
  if (!endpoint) return { outcome: 'skipped', reason: 'endpoint deleted' };

  // Normally written by the event handler; written here too so a delivery always has its row.
  await em
    .createQueryBuilder(WebhookDeliverySchema)
    .insert({ id: randomUUID(), endpointId, outboxId, eventType, status: 'pending', attempts: 0, statusCode: null, lastError: null, deliveredAt: null, createdAt: new Date(), updatedAt: new Date() })
    .onConflict(['endpointId', 'outboxId'])
    .ignore()
    .execute('run');
  const counted = await connection.execute<{ id: string; attempts: number; status: string }[]>(
    `update "webhook_deliveries" set "attempts" = "attempts" + (case when "status" = 'delivered' then 0 else 1 end), "updated_at" = now()
     where "endpoint_id" = ? and "outbox_id" = ? returning "id", "attempts", "status"`,
    [endpointId, outboxId],
    'all',
  );
  const delivery = counted[0]!;
  if (delivery.status === 'delivered') return { outcome: 'skipped', reason: 'already delivered' };
  if (!endpoint.active) {
    await connection.execute(`update "webhook_deliveries" set "status" = 'failed', "last_error" = 'endpoint disabled' where "id" = ?`, [delivery.id], 'run');
    return { outcome: 'skipped', reason: 'endpoint disabled' };
  }

  const body = webhookBody(outboxId, eventType, payload);
  const { timeoutMs, allowPrivateNetworks } = deps.config.followUps.webhook;
  const attempt = await postWebhook(endpoint.url, endpoint.secret, { outboxId, type: eventType, body }, timeoutMs, { allowPrivateNetworks });
  if (attempt.ok) {
    await connection.execute(
      `update "webhook_deliveries" set "status" = 'delivered', "status_code" = ?, "last_error" = null, "delivered_at" = now(), "updated_at" = now() where "id" = ?`,
      [attempt.statusCode, delivery.id],
      'run',
    );
    return { outcome: 'delivered', statusCode: attempt.statusCode, attempts: delivery.attempts };
  }
  await connection.execute(
    `update "webhook_deliveries" set "status" = ?, "status_code" = ?, "last_error" = ?, "updated_at" = now() where "id" = ? and "status" <> 'delivered'`,
    [job.final ? 'failed' : 'retrying', attempt.statusCode, attempt.error, delivery.id],
    'run',
  );
  throw new Error(`webhook ${endpointId} for event ${outboxId}: ${attempt.error}`);
}
