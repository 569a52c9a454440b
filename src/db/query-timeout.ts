import type { Socket } from 'node:net';
import type pg from 'pg';

/** pg's error for a query not answered within `query_timeout`. */
export const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

const isQueryTimeout = (e: unknown) => (e as Error | undefined)?.message === QUERY_TIMEOUT_MESSAGE;

/** Connections closed here: at once, where the socket's own close event (which knex's pool reads) comes later. */
const closed = new WeakSet<pg.Client>();

/** For the pool's `validate`: false for a connection closed behind a timed-out query, before its socket is gone. */
export const keptAfterTimeouts = (client: pg.Client): boolean => !closed.has(client);

/**
 * pg's `query_timeout` fails a query Postgres has not answered in time, but keeps the connection it was sent on:
 * the next query there waits behind the unanswered one, and a ROLLBACK that timed out while still queued is
 * dropped from the queue, so the pool's next user of that connection would run its statements inside the old
 * transaction. Such a connection is closed here instead (its socket destroyed: ending it politely waits on the
 * server that stopped answering). Whatever was queued on it fails as a lost connection (an outage: 503 at the API,
 * a retry in a worker), knex's pool drops it and opens another, and Postgres rolls back what the session left open.
 *
 * Installed on each new connection of the pool (knex's `afterCreate`, with `keptAfterTimeouts` as its `validate`).
 * Covers the two ways queries are sent here: with a callback (knex) and awaited (src/db/sql.ts).
 */
export function closeOnQueryTimeout(client: pg.Client): void {
  const send = client.query as (...args: unknown[]) => unknown;
  const close = () => {
    closed.add(client);
    (client as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
  };
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: unknown, result: unknown) => {
        if (isQueryTimeout(err)) close();
        callback(err, result);
      };
    }
    const sent = send.apply(this, args);
    // The caller awaits the same promise; this branch only watches it (and handles its rejection once more).
    if (sent instanceof Promise) sent.then(undefined, (err: unknown) => void (isQueryTimeout(err) && close()));
    return sent;
  };
}
