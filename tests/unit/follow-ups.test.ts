import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeHtml, renderEmail, renderGuestEmail, renderNotification } from '../../src/follow-ups/templates.js';
import { signWebhook, verifyWebhookSignature, webhookBody } from '../../src/follow-ups/webhooks.js';
import {
  BOOKING_EVENT_TYPES,
  bookingEventSchemas,
  emailRecipientKey,
  notificationJobId,
  notificationJobSchemas,
  type BookingEventPayload,
} from '../../src/jobs/catalogue.js';

const event: BookingEventPayload = {
  bookingId: '0b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10',
  workspaceId: '1b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10',
  workspaceName: 'Hub & <Co>',
  spaceId: '2b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10',
  spaceName: 'Room "1"',
  userId: '3b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10',
  userEmail: 'ada@example.test',
  userName: "<script>alert('x')</script>",
  status: 'cancelled',
  startsAt: '2026-12-01T09:00:00.000Z',
  endsAt: '2026-12-01T11:00:00.000Z',
  timestamp: '2026-11-30T10:00:00.000Z',
  reason: 'no longer needed',
};

describe('templates', () => {
  it('has a notification and an email for every event type', () => {
    for (const type of BOOKING_EVENT_TYPES) {
      const n = renderNotification(type, event);
      expect(n.title.length).toBeGreaterThan(0);
      expect(n.body).toContain('Room "1"');
      const e = renderEmail(type, event);
      expect(e.subject).toContain('Room "1"');
      expect(e.text).toContain('2026-12-01 09:00 UTC');
      expect(e.html).toContain('<!doctype html>');
    }
  });

  it('a created booking awaits confirmation only when it is pending (a checkout creates it confirmed)', () => {
    const pending = { ...event, status: 'pending' };
    const confirmed = { ...event, status: 'confirmed' };
    expect(renderNotification('BOOKING_CREATED', pending).body).toMatch(/was received and awaits confirmation\.$/);
    expect(renderGuestEmail('BOOKING_CREATED', pending, 'Grace').text).toContain('The booking awaits confirmation.');
    expect(renderNotification('BOOKING_CREATED', confirmed).body).toMatch(/was received\.$/);
    expect(renderEmail('BOOKING_CREATED', confirmed).text).not.toContain('awaits confirmation');
    expect(renderGuestEmail('BOOKING_CREATED', confirmed, 'Grace').text).not.toContain('awaits confirmation');
  });

  it("tells times on the workspace's clock when the event carries its zone (events written before: UTC)", () => {
    const berlin = { ...event, workspaceTimezone: 'Europe/Berlin' };
    expect(renderNotification('BOOKING_CONFIRMED', berlin).body).toContain('2026-12-01 10:00 (Europe/Berlin) – 2026-12-01 12:00 (Europe/Berlin)');
    const mail = renderEmail('BOOKING_CONFIRMED', berlin);
    expect(mail.subject).toContain('(2026-12-01 10:00 (Europe/Berlin))');
    expect(mail.text).toContain('From: 2026-12-01 10:00 (Europe/Berlin)');
    expect(renderGuestEmail('BOOKING_CHECKED_IN', berlin, 'Grace').text).toContain('until 2026-12-01 12:00 (Europe/Berlin)');
    expect(renderNotification('BOOKING_CONFIRMED', event).body).toContain('2026-12-01 09:00 UTC – 2026-12-01 11:00 UTC');
    // A zone name the time library does not know (a workspace's stored zone is validated, an old event's may not be).
    expect(renderNotification('BOOKING_CONFIRMED', { ...event, workspaceTimezone: 'Not/AZone' }).body).toContain('2026-12-01 09:00 UTC – 2026-12-01 11:00 UTC');
  });

  it('escapes every user-supplied value in the HTML part, not in the text part', () => {
    const e = renderEmail('BOOKING_CANCELLED', event);
    expect(e.html).not.toContain('<script>');
    expect(e.html).toContain('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;');
    expect(e.html).toContain('Hub &amp; &lt;Co&gt;');
    expect(e.html).toContain('Room &quot;1&quot;');
    expect(e.text).toContain("Hello <script>alert('x')</script>,");
    expect(e.text).toContain('Reason: no longer needed');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  it('says why a booking was cancelled', () => {
    expect(renderNotification('BOOKING_CANCELLED', event).body).toContain('reason: no longer needed');
  });

  it('has a guest email for every event type: addressed to the guest, naming the member, escaped in HTML', () => {
    for (const type of BOOKING_EVENT_TYPES) {
      const e = renderGuestEmail(type, event, 'Grace & "G"');
      expect(e.text).toMatch(/^Hello Grace & "G",/);
      expect(e.html).toContain('Hello Grace &amp; &quot;G&quot;,');
      expect(e.text).toContain("Booked by: <script>alert('x')</script>");
      expect(e.html).not.toContain('<script>');
      expect(e.subject).toContain('Room "1"');
      // Not the member's own wording, address or booking id.
      expect(e.text).not.toContain('Your booking');
      expect(e.text).not.toContain(event.userEmail);
      expect(e.text).not.toContain(event.bookingId);
    }
    expect(renderGuestEmail('BOOKING_CANCELLED', event, 'Grace').text).toContain('was cancelled (reason: no longer needed)');
    expect(renderGuestEmail('BOOKING_CREATED', event, 'Grace').text).toContain("<script>alert('x')</script> booked Room \"1\" at Hub & <Co>");
  });
});

describe('event schemas and job ids', () => {
  it('requires a reason on cancellations only', () => {
    const { reason: _reason, ...withoutReason } = event;
    expect(bookingEventSchemas.BOOKING_CANCELLED.safeParse(withoutReason).success).toBe(false);
    expect(bookingEventSchemas.BOOKING_CONFIRMED.safeParse(withoutReason).success).toBe(true);
  });

  it('derives job ids without ":" from the outbox id', () => {
    const ids = [notificationJobId.event(event.bookingId), notificationJobId.email(event.bookingId, event.userId), notificationJobId.webhook(event.bookingId, event.spaceId)];
    for (const id of ids) expect(id).not.toContain(':');
    expect(new Set(ids).size).toBe(3);
    expect(notificationJobId.event('abc')).toBe('outbox-abc');
  });

  it('keys email jobs by recipient: the user id for the member (as before), guest-<id> for a guest', () => {
    const guest = { id: event.spaceId, name: 'Grace' };
    expect(emailRecipientKey({ userId: event.userId })).toBe(event.userId);
    expect(emailRecipientKey({ userId: event.userId, guest })).toBe(`guest-${guest.id}`);
    // Even a guest whose id equalled a user id would get another job id than that user's email.
    const member = notificationJobId.email('e1', emailRecipientKey({ userId: guest.id }));
    const asGuest = notificationJobId.email('e1', emailRecipientKey({ userId: event.userId, guest }));
    expect(member).toBe(`email-e1-${guest.id}`);
    expect(asGuest).toBe(`email-e1-guest-${guest.id}`);
    expect(asGuest).not.toContain(':');
    // The job schema accepts both shapes; a guest needs an id.
    const job = { outboxId: event.bookingId, eventType: 'BOOKING_CREATED', userId: event.userId, to: 'g@example.test', payload: event };
    expect(notificationJobSchemas['email.send'].safeParse(job).success).toBe(true);
    expect(notificationJobSchemas['email.send'].safeParse({ ...job, guest }).success).toBe(true);
    expect(notificationJobSchemas['email.send'].safeParse({ ...job, guest: { name: 'Grace' } }).success).toBe(false);
  });
});

describe('webhook signatures', () => {
  const secret = 'whsec-0123456789abcdef';
  const body = webhookBody('4b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10', 'BOOKING_CANCELLED', event);

  it('is sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>', () => {
    const ts = 1_790_000_000;
    expect(signWebhook(secret, ts, body)).toBe(`sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
    expect(JSON.parse(body)).toEqual({ id: '4b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10', type: 'BOOKING_CANCELLED', occurredAt: event.timestamp, data: event });
  });

  it('verifies, and refuses a wrong secret, a changed body or timestamp, and an old timestamp', () => {
    const now = Date.now();
    const ts = String(Math.floor(now / 1000));
    const signature = signWebhook(secret, ts, body);
    expect(verifyWebhookSignature(secret, { timestamp: ts, signature }, body, { now })).toBe(true);
    expect(verifyWebhookSignature('other-secret-0123456', { timestamp: ts, signature }, body, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, { timestamp: ts, signature }, `${body} `, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, { timestamp: String(Number(ts) + 1), signature }, body, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, { timestamp: ts, signature }, body, { now: now + 600_000 })).toBe(false);
    expect(verifyWebhookSignature(secret, { timestamp: ts, signature: undefined }, body, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, { timestamp: 'soon', signature }, body, { now })).toBe(false);
  });
});
