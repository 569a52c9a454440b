import { utcMinute, wallClockMinute } from '../domain/calendar.js';
import type { BookingEventPayload, BookingEventType } from '../jobs/catalogue.js';

/**
 * What each booking event says to its user: the in-app notification (title, body) and the email (subject, plain
 * text, HTML); and, by email only, to each guest of the booking (addressed by name, told who booked). Pure
 * functions. Every value that came from a user (names, reasons) is escaped in the HTML part.
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

/**
 * `2026-12-01 10:00 (Europe/Berlin)`: an instant told on the workspace's clock, as its members read the booking;
 * `2026-12-01 09:00 UTC` for an event written before events carried the zone (or a zone luxon does not know).
 */
export function formatInstant(iso: string, zone?: string): string {
  const instant = new Date(iso);
  const local = zone ? wallClockMinute(instant, zone) : undefined;
  if (local !== undefined) return `${local} (${zone})`;
  return `${utcMinute(instant)} UTC`;
}

const at = (e: BookingEventPayload, iso: string) => formatInstant(iso, e.workspaceTimezone);
const when = (e: BookingEventPayload) => `${at(e, e.startsAt)} – ${at(e, e.endsAt)}`;
const where = (e: BookingEventPayload) => `${e.spaceName} at ${e.workspaceName}`;

type Wording = { title: string; lead: (e: BookingEventPayload) => string };

/** A booking made by a checkout is created confirmed: its BOOKING_CREATED must not say it awaits confirmation. */
const pending = (e: BookingEventPayload) => e.status === 'pending';

const WORDING: Record<BookingEventType, Wording> = {
  BOOKING_CREATED: {
    title: 'Booking received',
    lead: (e) => `Your booking of ${where(e)} for ${when(e)} was received${pending(e) ? ' and awaits confirmation' : ''}.`,
  },
  BOOKING_CONFIRMED: { title: 'Booking confirmed', lead: (e) => `Your booking of ${where(e)} for ${when(e)} is confirmed.` },
  BOOKING_CANCELLED: {
    title: 'Booking cancelled',
    lead: (e) => `Your booking of ${where(e)} for ${when(e)} was cancelled${e.reason ? ` (reason: ${e.reason})` : ''}.`,
  },
  BOOKING_CHECKED_IN: { title: 'Checked in', lead: (e) => `You checked in to ${where(e)}. Your booking runs until ${at(e, e.endsAt)}.` },
  BOOKING_CHECKED_OUT: { title: 'Checked out', lead: (e) => `You checked out of ${where(e)}. Thank you for your visit.` },
  BOOKING_COMPLETED: { title: 'Booking completed', lead: (e) => `Your booking of ${where(e)} for ${when(e)} is completed.` },
};

export function renderNotification(type: BookingEventType, e: BookingEventPayload): NotificationContent {
  const w = WORDING[type];
  return { title: w.title, body: w.lead(e) };
}

const reasonSuffix = (e: BookingEventPayload) => (e.reason ? ` (reason: ${e.reason})` : '');

/** What each event tells a guest: the member who booked is named, the booking is theirs. */
const GUEST_WORDING: Record<BookingEventType, Wording> = {
  BOOKING_CREATED: {
    title: 'You are invited',
    lead: (e) => `${e.userName} booked ${where(e)} for ${when(e)} and listed you as a guest.${pending(e) ? ' The booking awaits confirmation.' : ''}`,
  },
  BOOKING_CONFIRMED: { title: 'Booking confirmed', lead: (e) => `The booking of ${where(e)} for ${when(e)} by ${e.userName}, where you are a guest, is confirmed.` },
  BOOKING_CANCELLED: {
    title: 'Booking cancelled',
    lead: (e) => `The booking of ${where(e)} for ${when(e)} by ${e.userName}, where you were a guest, was cancelled${reasonSuffix(e)}.`,
  },
  BOOKING_CHECKED_IN: { title: 'Your host checked in', lead: (e) => `${e.userName} checked in to ${where(e)}, where you are a guest, until ${at(e, e.endsAt)}.` },
  BOOKING_CHECKED_OUT: { title: 'Your host checked out', lead: (e) => `${e.userName} checked out of ${where(e)}. Thank you for your visit.` },
  BOOKING_COMPLETED: { title: 'Booking completed', lead: (e) => `The booking of ${where(e)} for ${when(e)} by ${e.userName}, where you were a guest, is completed.` },
};

function layout(e: BookingEventPayload, w: Wording, greet: string, rows: [string, string][]): EmailContent {
  const lead = w.lead(e);
  const subject = `${w.title}: ${e.spaceName} (${at(e, e.startsAt)})`;
  const text = [`Hello ${greet},`, '', lead, '', ...rows.map(([k, v]) => `${k}: ${v}`), '', '— Coworking'].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>Hello ${escapeHtml(greet)},</p>`,
    `<p>${escapeHtml(lead)}</p>`,
    '<table>',
    ...rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
    '<p>— Coworking</p>',
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}

const slotRows = (e: BookingEventPayload): [string, string][] => [
  ['Space', e.spaceName],
  ['Workspace', e.workspaceName],
  ['From', at(e, e.startsAt)],
  ['Until', at(e, e.endsAt)],
  ['Status', e.status],
];
const reasonRow = (e: BookingEventPayload): [string, string][] => (e.reason ? [['Reason', e.reason]] : []);

/** The email to the booking's member. */
export function renderEmail(type: BookingEventType, e: BookingEventPayload): EmailContent {
  return layout(e, WORDING[type], e.userName, [...slotRows(e), ['Booking', e.bookingId], ...reasonRow(e)]);
}

/**
 * The email to one guest of the booking: addressed to the guest, naming the member who booked (never their email
 * address, nor the booking id: a guest has no account to use it with).
 */
export function renderGuestEmail(type: BookingEventType, e: BookingEventPayload, guestName: string): EmailContent {
  return layout(e, GUEST_WORDING[type], guestName, [...slotRows(e), ['Booked by', e.userName], ...reasonRow(e)]);
}
