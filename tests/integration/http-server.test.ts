import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/api/http-server.js';
import { makeUser, startStack, tokenFor, type Stack } from '../helpers/stack.js';

/** The API's HTTP server (src/api/http-server.ts): what Node's parser refuses is answered in the error envelope too. */
let stack: Stack;
let http: Awaited<ReturnType<typeof startHttpServer>>;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  http = await startHttpServer(stack.app.fetch, 0, '127.0.0.1', 'PORT');
});
afterAll(async () => {
  await http?.close();
  await stack?.close();
});

/** Sends raw bytes and reads the whole answer, up to the server closing the connection. */
function exchange(bytes: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(http.port, '127.0.0.1');
    let raw = '';
    socket.on('data', (d) => (raw += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body });
    });
    socket.write(bytes);
  });
}

describe('requests the HTTP parser refuses', () => {
  it('a URL past the 16 KB header limit is 431 in the envelope, and the server goes on serving', async () => {
    const res = await exchange(`GET /api/v1/booking/bookings?q=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'validation_error', message: expect.stringMatching(/too large/) } });

    const token = await tokenFor(makeUser('member'));
    const ok = await fetch(`http://127.0.0.1:${http.port}/api/v1/booking/bookings`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  });

  it('bytes that are not HTTP are 400 in the envelope', async () => {
    const res = await exchange('HELLO THERE\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'validation_error', message: 'Malformed HTTP request' } });
  });
});

describe('closing the server (SIGTERM) under steady keep-alive traffic', () => {
  it('drains: responses say Connection: close, every request sent on an open connection is answered, and the close completes', async () => {
    // A server of its own, answering after a turn of the event loop as a route with I/O does.
    const own = await startHttpServer(async () => {
      await new Promise((r) => setImmediate(r));
      return new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });
    }, 0, '127.0.0.1', 'PORT');
    const url = `http://127.0.0.1:${own.port}/`;
    let closed = false;
    let closing: Promise<void> | undefined;
    const told: string[] = [];
    const failures: string[] = [];
    let afterClose = 0;
    // Four clients on keep-alive connections (fetch's default agent), never idle: each sends its next request as soon
    // as the last is answered. Past the close, a new connection is refused: that client stops, as a real one would
    // go to another instance. Bounded, so a close that never drains ends the loops with `closed` still false.
    const client = async () => {
      while (!closed && afterClose < 2000) {
        if (closing) afterClose += 1;
        try {
          const res = await fetch(url);
          await res.text();
          if (closing) told.push(res.headers.get('connection') ?? '');
        } catch (e) {
          const code = (e as { cause?: { code?: string } }).cause?.code;
          if (code !== 'ECONNREFUSED') failures.push(String(code ?? e));
          return;
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    await new Promise((r) => setTimeout(r, 200)); // traffic under way
    closing = own.close().then(() => void (closed = true));
    await Promise.all(clients);
    // Every client was told to go (or refused a new connection) before its 2000th request past the close.
    expect(afterClose).toBeLessThan(2000);
    // Connections fetch's pool left idle close at their keep-alive timeout (seconds), then the close completes.
    await closing;
    expect(closed).toBe(true);
    expect(failures).toEqual([]);
    expect(told).toContain('close');
  });

  it('a request under way when the close begins is answered with Connection: close too', async () => {
    let arrived!: () => void;
    const inHandler = new Promise<void>((r) => (arrived = r));
    let answer!: () => void;
    const gate = new Promise<void>((r) => (answer = r));
    // Holds its request as a `Prefer: wait` does, until the shutdown answers it.
    const own = await startHttpServer(async () => {
      arrived();
      await gate;
      return new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });
    }, 0, '127.0.0.1', 'PORT');
    const pending = fetch(`http://127.0.0.1:${own.port}/`);
    await inHandler;
    const closing = own.close();
    answer();
    const res = await pending;
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.get('connection')).toBe('close');
    await closing;
  });
});
