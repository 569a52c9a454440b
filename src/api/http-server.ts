import { serve } from '@hono/node-server';
import type { Server, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

type Fetch = Parameters<typeof serve>[0]['fetch'];

/** What Node's HTTP parser refuses before any route sees the request, answered as Node would but in the envelope. */
const PARSER_REFUSALS: Record<string, [status: number, reason: string, message: string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'The request line and headers are too large (the limit is 16 KB): shorten the URL or the headers'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received in time'],
};
const MALFORMED: [number, string, string] = [400, 'Bad Request', 'Malformed HTTP request'];

/**
 * Answers a request Node's parser refused (a URL or headers past its 16 KB limit, bytes that are not HTTP) with the
 * error envelope every other refusal has, where Node would answer a bare status line. As Node's own handler does, it
 * writes nothing once a response has begun on the socket, and closes the connection.
 */
export function answerParserErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
      const [status, reason, message] = PARSER_REFUSALS[err.code ?? ''] ?? MALFORMED;
      const body = JSON.stringify({ error: { code: 'validation_error', message } });
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  });
}

/**
 * A close that drains keep-alive connections without cutting a request off. Node's `server.close()` stops listening
 * and closes the connections idle at that instant, where a client's next request may already be on the wire (it
 * gets a reset, not knowing if it was served); and a client (or proxy) that keeps its connections busy was served on
 * them until the process's shutdown deadline cut them off mid-request. Here the listening socket closes, and every
 * answer from then on says `Connection: close` (Node then closes the connection after it): those of the requests
 * under way too (a `Prefer: wait` answered by the shutdown), so no client reuses a connection that is about to go.
 * A connection left idle closes at its keep-alive timeout, as it would have anyway. `close` resolves when none is
 * left; `stopKeepAlive` alone marks the answers without closing (the shutdown calls it before it answers the waits).
 * Nothing is added to the answers sent before.
 */
export function drainingClose(server: Server): { stopKeepAlive: () => void; close: () => Promise<void> } {
  // Per connection, not per request: the request under way on a socket is its `_httpMessage`, as Node keeps it.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let stopped = false;
  const stopKeepAlive = () => {
    if (stopped) return;
    stopped = true;
    server.prependListener('request', (_req, res: ServerResponse) => {
      res.shouldKeepAlive = false;
    });
    for (const socket of sockets) {
      const res = (socket as net.Socket & { _httpMessage?: ServerResponse })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
  };
  const close = () =>
    new Promise<void>((done) => {
      stopKeepAlive();
      // net.Server's close: stop listening, call back once every connection has ended (http's also closes idle ones).
      net.Server.prototype.close.call(server, () => done());
    });
  return { stopKeepAlive, close };
}

/**
 * Serves `fetch` on host:port; resolves once listening (with the bound port: 0 picks one), rejects if it cannot, the
 * error naming `setting`, the variable that chose the port (for src/start-failure.ts). `close` drains (drainingClose).
 */
export async function startHttpServer(
  fetch: Fetch,
  port: number,
  hostname: string,
  setting: 'PORT' | 'HEALTH_PORT',
): Promise<{ server: Server; port: number; close: () => Promise<void>; stopKeepAlive: () => void }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, (info: AddressInfo) => resolve({ server, port: info.port, close, stopKeepAlive })) as Server;
    const { close, stopKeepAlive } = drainingClose(server);
    answerParserErrors(server);
    server.once('error', (err) => reject(Object.assign(err, { setting })));
  });
}
