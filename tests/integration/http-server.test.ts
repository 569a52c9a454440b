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
