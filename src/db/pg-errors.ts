/**
 * Postgres errors, read in one place. MikroORM wraps driver errors but keeps the SQLSTATE `code` and the
 * `constraint` name, which is what we decide on.
 */
export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  exclusionViolation: '23P01',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

interface PgLike {
  code?: unknown;
  constraint?: unknown;
  name?: unknown;
  message?: unknown;
}

export const pgCode = (e: unknown): string | undefined =>
  typeof (e as PgLike)?.code === 'string' ? ((e as PgLike).code as string) : undefined;

export const pgConstraint = (e: unknown): string | undefined =>
  typeof (e as PgLike)?.constraint === 'string' ? ((e as PgLike).constraint as string) : undefined;

/**
 * SQLSTATE class 22 (data exception: a value out of range, too long, not in the encoding): what the statement carried
 * cannot be stored, and running it again carries the same. Not a fault worth a retry.
 */
export const isDataException = (e: unknown): boolean => pgCode(e)?.startsWith('22') ?? false;

const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when Postgres cannot be reached (refused, timed out, pool exhausted, server shutting down): the API
 * answers 503 and workers retry. pg reports its connect timeout (`connectionTimeoutMillis`, a server that accepts
 * connections and never answers) as "timeout expired" or as "Connection terminated due to connection timeout",
 * whichever of the socket's events comes first. SQLSTATE class 08 (connection) and 57P0x (operator intervention).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  const code = pgCode(e);
  // 08P01 (protocol violation) is raised for bad data such as a NUL byte: not an outage.
  if (code && (UNAVAILABLE_NODE_CODES.has(code) || (code.startsWith('08') && code !== '08P01') || /^57P0[1-3]$/.test(code))) return true;
  const name = String((e as PgLike)?.name ?? '');
  const message = String((e as PgLike)?.message ?? '');
  return (
    name === 'ConnectionException' ||
    name === 'KnexTimeoutError' ||
    /Timeout acquiring a connection|Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|^timeout expired$|Query read timeout/i.test(message)
  );
}
