import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../../logger.js';
import { httpRequestDuration, httpRequests } from '../../metrics.js';
import type { AppEnv } from '../context.js';
import { BULL_BOARD_PATH } from '../bull-board.js';

/** The label of a request that no route matched (a 404): one series, whatever the URL was. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * The route pattern that served (or would have served) the request, e.g. `/api/v1/booking/bookings/:id`; never the
 * raw URL, so a metric's label set stays bounded. Middleware (`use`, method ALL) is skipped: a request refused by
 * the auth middleware is still labelled with the route it asked for.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const responder = routes[c.req.routeIndex];
  if (responder && responder.method !== 'ALL') return responder.path;
  const route = routes.find((r) => r.method !== 'ALL')?.path;
  if (route) return route;
  // Bull Board is served by a forward registered for every method (src/api/bull-board.ts): one series for all of it.
  return c.req.path === BULL_BOARD_PATH || c.req.path.startsWith(`${BULL_BOARD_PATH}/`) ? `${BULL_BOARD_PATH}/*` : UNMATCHED_ROUTE;
}

const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Per request: one access line at the end (method, route, status, duration, requestId), and the HTTP metrics.
 * Mounted right after `requestId()`. Code serving a request that logs binds `requestId` itself (app.onError does).
 */
export function observeRequests(logger: Logger): MiddlewareHandler<AppEnv> {
  // The access line's fields are fixed (below) and none is a credential, so it skips the redaction every other line
  // goes through: with a wildcard path (`*.password`) pino runs the redactor on each field, 4 % of a cached read's CPU.
  const access = logger.child({}, { redact: [] });
  return async (c, next) => {
    const started = performance.now();
    const requestId = c.get('requestId');
    // Errors thrown below are turned into responses by app.onError before next() returns.
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routeLabel(c);
    const status = c.res.status;
    const labels = { method: c.req.method, route, status: String(status) };
    httpRequests.inc(labels);
    httpRequestDuration.observe(labels, seconds);
    const line = { requestId, method: c.req.method, route, path: c.req.path, status, durationMs: Math.round(seconds * 10_000) / 10 };
    // Probes and scrapes come every few seconds: their lines are debug, so they do not drown the others.
    if (QUIET_ROUTES.has(route)) access.debug(line, 'request');
    else access.info(line, 'request');
  };
}
