import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmailChannel, EmailMessage } from '../../src/follow-ups/email.js';

/** Polls `check` until it returns a truthy value, or fails with `what` after the deadline. No timed assertions. */
export async function until<T>(what: string, check: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * An email channel for tests: records every message it is asked to send (the real work of the wrapped channel, if
 * any, still happens) and refuses recipients matching `failFor`, like a mail server bouncing them, and the first
 * message to each recipient matching `failFirst`, like a mail server down for a moment.
 */
export function recordingMailer(opts: { inner?: EmailChannel; failFor?: RegExp; failFirst?: RegExp } = {}) {
  const sent: EmailMessage[] = [];
  const refused: EmailMessage[] = [];
  const tried = new Set<string>();
  let n = 0;
  const channel: EmailChannel = {
    transport: opts.inner?.transport ?? 'log',
    async send(message) {
      const first = !tried.has(message.to);
      tried.add(message.to);
      if (opts.failFirst?.test(message.to) && first) {
        refused.push(message);
        throw new Error(`421 service not available: ${message.to}`);
      }
      if (opts.failFor?.test(message.to)) {
        refused.push(message);
        throw new Error(`550 mailbox unavailable: ${message.to}`);
      }
      const result = opts.inner ? await opts.inner.send(message) : { messageId: `<test-${++n}@example.test>` };
      sent.push(message);
      return result;
    },
    close: () => opts.inner?.close(),
  };
  return { channel, sent, refused, sentFor: (eventId: string) => sent.filter((m) => m.headers?.['X-Event-Id'] === eventId) };
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP server on 127.0.0.1 that records what it receives and answers each request with `status(n)` (n counts
 * requests from 1).
 */
export async function startReceiver(status: (n: number) => number = () => 200) {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const code = status(requests.length);
      res.writeHead(code, { 'content-type': 'text/plain' }).end(code < 300 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
