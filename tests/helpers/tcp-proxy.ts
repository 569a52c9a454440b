import net from 'node:net';

/** A port on 127.0.0.1 nothing listens on (bound once by the OS, then released): a service that is down. */
export async function unusedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real service, which a test can cut (`down()`: refuse and drop every
 * connection) and restore (`up()`), to play an outage without touching the shared Postgres or Redis.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let accepting = true;
  let hanging = false;
  /** Each connection's two ends, for stall(): the client side stops being forwarded, its bytes wait in the proxy. */
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    if (!accepting) return client.destroy();
    if (hanging) {
      // Accepted and never answered: what a host that stopped answering looks like to a new connection.
      sockets.add(client);
      client.on('error', () => client.destroy()).on('close', () => sockets.delete(client));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    pairs.add({ client, upstream });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      for (const pair of pairs) if (pair.client === client) pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    down() {
      accepting = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    up() {
      accepting = true;
      hanging = false;
    },
    /** Hold what clients send on open connections (nothing is lost) until release(): a server that stopped reading. */
    stall() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        client.pause();
      }
    },
    release() {
      hanging = false;
      for (const { client, upstream } of pairs) if (!client.destroyed) client.pipe(upstream);
    },
    /** stall() the open connections and hang() new ones, dropping nothing: a server that froze (SIGSTOP). */
    freeze() {
      this.stall();
      hanging = true;
    },
    /** Drop every connection, then accept new ones and never answer them (until up()). */
    hang() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      hanging = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        accepting = false;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
