import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, postWebhook, verifyWebhookSignature } from '../../src/follow-ups/webhooks.js';

/**
 * The webhook POST (src/follow-ups/webhooks.ts) against a real receiver on this machine: what it sends, its timeout,
 * and, with private networks not allowed (production's default), that it never reaches one.
 */
let receiver: Server;
let port: number;
const received: { headers: Record<string, unknown>; body: string }[] = [];
let answer: (res: import('node:http').ServerResponse) => void = (res) => res.writeHead(204).end();

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      answer(res);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  port = (receiver.address() as AddressInfo).port;
});
afterAll(() => new Promise((r) => receiver.close(r)));

/** Outside production's default: the receiver here is on loopback. */
const allowed = { allowPrivateNetworks: true };
const event = { outboxId: crypto.randomUUID(), type: 'BOOKING_CONFIRMED' as const, body: '{"hello":"world"}' };

describe('postWebhook', () => {
  it('POSTs the signed body and reports the status', async () => {
    received.length = 0;
    answer = (res) => res.writeHead(204).end();
    expect(await postWebhook(`http://127.0.0.1:${port}/hook`, 'a-secret-of-16-chars', event, 2000, allowed)).toEqual({ ok: true, statusCode: 204, error: null });
    expect(received).toHaveLength(1);
    const h = received[0]!.headers;
    expect(received[0]!.body).toBe(event.body);
    expect(verifyWebhookSignature('a-secret-of-16-chars', { timestamp: h['x-webhook-timestamp'] as string, signature: h['x-webhook-signature'] as string }, event.body)).toBe(true);
  });

  it('a non-2xx is a failure with the start of its answer; a redirect is not followed; a silent receiver times out', async () => {
    answer = (res) => res.writeHead(500).end('x'.repeat(2000));
    const failed = await postWebhook(`http://127.0.0.1:${port}/hook`, 'a-secret-of-16-chars', event, 2000, allowed);
    expect(failed).toMatchObject({ ok: false, statusCode: 500 });
    expect(failed.error).toMatch(/^HTTP 500: x{500}$/);
    answer = (res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end();
    expect(await postWebhook(`http://127.0.0.1:${port}/hook`, 'a-secret-of-16-chars', event, 2000, allowed)).toMatchObject({ ok: false, statusCode: 302 });
    answer = () => {};
    expect(await postWebhook(`http://127.0.0.1:${port}/hook`, 'a-secret-of-16-chars', event, 300, allowed)).toEqual({ ok: false, statusCode: null, error: 'timed out after 300 ms' });
  });

  it('with private networks not allowed, reaches no loopback or private address, by IP or by name', async () => {
    received.length = 0;
    answer = (res) => res.writeHead(204).end();
    for (const url of [`http://127.0.0.1:${port}/hook`, `http://localhost:${port}/hook`, `http://[::1]:${port}/hook`, `http://[::ffff:127.0.0.1]:${port}/hook`]) {
      const attempt = await postWebhook(url, 'a-secret-of-16-chars', event, 2000, { allowPrivateNetworks: false });
      expect(attempt, url).toMatchObject({ ok: false, statusCode: null, error: expect.stringMatching(/is a private address .*WEBHOOK_ALLOW_PRIVATE_NETWORKS/) });
    }
    expect(received).toHaveLength(0);
  });
});

describe('isPrivateAddress', () => {
  it('knows the private, loopback, link-local and CGNAT ranges, and leaves public addresses alone', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1'])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:1.1.1.1']) expect(isPrivateAddress(a), a).toBe(false);
  });
});
