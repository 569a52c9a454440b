import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BookingEventPayload, BookingEventType } from '../jobs/catalogue.js';

/**
 * Signed webhooks. Each delivery is a POST of the event as JSON with
 *   X-Webhook-Id: <event id, the same on every retry: receivers deduplicate on it>
 *   X-Webhook-Timestamp: <unix seconds of this attempt>
 *   X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>
 * A receiver recomputes the HMAC over the raw body, compares in constant time and rejects old timestamps.
 */

export const WEBHOOK_HEADERS = {
  id: 'X-Webhook-Id',
  timestamp: 'X-Webhook-Timestamp',
  signature: 'X-Webhook-Signature',
  event: 'X-Webhook-Event',
} as const;

/** The body of a delivery: deterministic for an event, so retries send the same bytes. */
export function webhookBody(outboxId: string, type: BookingEventType, payload: BookingEventPayload): string {
  return JSON.stringify({ id: outboxId, type, occurredAt: payload.timestamp, data: payload });
}

export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (and what the tests do): true when the signature matches and the timestamp is recent. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | null | undefined; signature: string | null | undefined },
  body: string,
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const nowSeconds = Math.floor((opts.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface WebhookAttempt {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

/** One POST with a timeout. Redirects are not followed (a redirect is an answer, not a success). */
export async function postWebhook(
  url: string,
  secret: string,
  event: { outboxId: string; type: BookingEventType; body: string },
  timeoutMs: number,
): Promise<WebhookAttempt> {
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'coworking-webhooks/1',
        [WEBHOOK_HEADERS.id]: event.outboxId,
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signWebhook(secret, timestamp, event.body),
        [WEBHOOK_HEADERS.event]: event.type,
      },
      body: event.body,
    });
    // Read (a bounded part of) the answer so the connection is released; keep a little of it for the record.
    const text = (await res.text().catch(() => '')).slice(0, 500);
    if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status, error: null };
    return { ok: false, statusCode: res.status, error: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const reason = err.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `${err.message}${err.cause?.code ? ` (${err.cause.code})` : ''}`;
    return { ok: false, statusCode: null, error: reason };
  }
}
