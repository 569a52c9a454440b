import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/**
 * hono's bodyLimit, without its cost on the common requests. hono's starts with `c.req.raw.body`, which makes
 * @hono/node-server build a full undici Request (headers, AbortSignal, body stream) for every request, a GET
 * included, and then reading the JSON body can no longer take node-server's direct path: a measured hot spot of
 * cached reads. The answers are hono's:
 * - GET and HEAD requests never have a body (their Request's body is null), so hono's lets them through;
 * - a Content-Length without Transfer-Encoding is judged by the header alone, as hono's does;
 * - anything else (chunked, or no length) goes through hono's bodyLimit, which counts the bytes as they stream.
 */
export function limitBody(maxSize: number, onError: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const streamed = bodyLimit({ maxSize, onError });
  return (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (parseInt(length || '0', 10) > maxSize) return Promise.resolve(onError(c));
      return next();
    }
    return streamed(c, next);
  };
}
