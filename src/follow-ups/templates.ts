import type { BookingEventPayload, BookingEventType } from '../jobs/catalogue.js';

/**
 * What each booking event says to its user: the in-app notification (title, body) and the email (subject, plain
 * text, HTML). Pure functions. Every value that came from a user (names, reasons) is escaped in the HTML part.
 */

export interface NotificationContent {
  title: string;
  body: string;
}

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);

/** `2026-12-01 09:00 UTC`: events carry UTC instants. */
export const formatInstant = (iso: string) => `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

const when = (e: BookingEventPayload) => `${formatInstant(e.startsAt)} – ${formatInstant(e.endsAt)}`;
const where = (e: BookingEventPayload) => `${e.spaceName} at ${e.workspaceName}`;

type Wording = { title: string; lead: (e: BookingEventPayload) => string };

const WORDING: Record<BookingEventType, Wording> = {
  BOOKING_CREATED: { title: 'Booking received', lead: (e) => `Your booking of ${where(e)} for ${when(e)} was received and awaits confirmation.` },
  BOOKING_CONFIRMED: { title: 'Booking confirmed', lead: (e) => `Your booking of ${where(e)} for ${when(e)} is confirmed.` },
  BOOKING_CANCELLED: {
    title: 'Booking cancelled',
    lead: (e) => `Your booking of ${where(e)} for ${when(e)} was cancelled${e.reason ? ` (reason: ${e.reason})` : ''}.`,
  },
  BOOKING_CHECKED_IN: { title: 'Checked in', lead: (e) => `You checked in to ${where(e)}. Your booking runs until ${formatInstant(e.endsAt)}.` },
  BOOKING_CHECKED_OUT: { title: 'Checked out', lead: (e) => `You checked out of ${where(e)}. Thank you for your visit.` },
  BOOKING_COMPLETED: { title: 'Booking completed', lead: (e) => `Your booking of ${where(e)} for ${when(e)} is completed.` },
};

export function renderNotification(type: BookingEventType, e: BookingEventPayload): NotificationContent {
  const w = WORDING[type];
  return { title: w.title, body: w.lead(e) };
}

export function renderEmail(type: BookingEventType, e: BookingEventPayload): EmailContent {
  const w = WORDING[type];
  const lead = w.lead(e);
  const subject = `${w.title}: ${e.spaceName} (${formatInstant(e.startsAt)})`;
  const rows: [string, string][] = [
    ['Space', e.spaceName],
    ['Workspace', e.workspaceName],
    ['From', formatInstant(e.startsAt)],
    ['Until', formatInstant(e.endsAt)],
    ['Status', e.status],
    ['Booking', e.bookingId],
    ...(e.reason ? ([['Reason', e.reason]] as [string, string][]) : []),
  ];
  const text = [`Hello ${e.userName},`, '', lead, '', ...rows.map(([k, v]) => `${k}: ${v}`), '', '— Coworking'].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>Hello ${escapeHtml(e.userName)},</p>`,
    `<p>${escapeHtml(lead)}</p>`,
    '<table>',
    ...rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
    '<p>— Coworking</p>',
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}
