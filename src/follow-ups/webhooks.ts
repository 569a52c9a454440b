import { createHmac, timingSafeEqual } from 'node:crypto';
import { lookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
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

/** Addresses a webhook may not reach unless private networks are allowed: loopback, private, link-local, CGNAT, … */
const PRIVATE_NETWORKS = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const)
    list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const)
    list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

/** True for an address in PRIVATE_NETWORKS (an IPv4 address mapped into IPv6, `::ffff:127.0.0.1`, as its IPv4 self). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return PRIVATE_NETWORKS.check(mapped, 'ipv4');
  return PRIVATE_NETWORKS.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

const privateRefusal = (host: string, address: string) =>
  Object.assign(new Error(`${host} is a private address (${address}); set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it`), { code: 'EPRIVATE' });

/**
 * The connection's own name resolution, checked: the address refused is the one the request would connect to, so a
 * name that resolves elsewhere between a check and the connect (DNS rebinding) cannot slip past.
 */
const checkedLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const found = addresses as LookupAddress[];
    const refused = found.find((a) => isPrivateAddress(a.address));
    if (refused) return callback(privateRefusal(hostname, refused.address), '', 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, found);
    callback(null, found[0]!.address, found[0]!.family);
  });
};

/**
 * One POST with a timeout. Redirects are not followed (a redirect is an answer, not a success). Unless
 * `allowPrivateNetworks`, the receiver may not be on a private network (SSRF: a webhook URL is an admin's input, and
 * the worker's network reaches what the internet does not): an IP literal is checked here, a name as it resolves.
 */
export async function postWebhook(
  url: string,
  secret: string,
  event: { outboxId: string; type: BookingEventType; body: string },
  timeoutMs: number,
  // No default: whether a caller may reach private networks is the config's say, never an omission's.
  opts: { allowPrivateNetworks: boolean },
): Promise<WebhookAttempt> {
  const timestamp = Math.floor(Date.now() / 1000);
  const target = new URL(url);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!opts.allowPrivateNetworks && isIP(host) && isPrivateAddress(host)) return { ok: false, statusCode: null, error: privateRefusal(host, host).message };
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(event.body)),
    'user-agent': 'coworking-webhooks/1',
    [WEBHOOK_HEADERS.id]: event.outboxId,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: signWebhook(secret, timestamp, event.body),
    [WEBHOOK_HEADERS.event]: event.type,
  };
  try {
    const res = await post(target, headers, event.body, timeoutMs, opts.allowPrivateNetworks ? undefined : checkedLookup);
    if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status, error: null };
    return { ok: false, statusCode: res.status, error: `HTTP ${res.status}${res.text ? `: ${res.text}` : ''}` };
  } catch (e) {
    const err = e as Error & { code?: string };
    const reason = err.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`;
    return { ok: false, statusCode: null, error: reason };
  }
}

/** The POST itself (node:http/https, for the checked lookup): its status and the first 500 characters of its answer. */
function post(target: URL, headers: Record<string, string>, body: string, timeoutMs: number, checked: LookupFunction | undefined) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method: 'POST', headers, ...(checked ? { lookup: checked } : {}) }, (res) => {
      // Read (a bounded part of) the answer so the connection is released; keep a little of it for the record.
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 500) text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: text.slice(0, 500) }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => request.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { name: 'TimeoutError' })), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    request.end(body);
  });
}
