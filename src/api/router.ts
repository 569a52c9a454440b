import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { validationHook } from './validation.js';

type Route = Parameters<OpenAPIHono<AppEnv>['openapi']>[0];

/**
 * The headers a route declares, checked by looking up each declared name (`c.req.header(name)`) and parsing the
 * result with the route's schema, failing as zod-openapi's header validator fails (400, `headers.<name>` paths).
 * That validator copies every header of the request into an object, which makes @hono/node-server build the full
 * Headers object it otherwise leaves lazy: a measured cost on every command (bench figure 2). The route is
 * documented with its headers as before.
 */
function checkHeaders(schema: z.ZodObject): MiddlewareHandler<AppEnv> {
  const names = Object.keys(schema.shape);
  return async (c, next) => {
    const value: Record<string, string | undefined> = {};
    for (const name of names) value[name] = c.req.header(name);
    const result = schema.safeParse(value);
    if (!result.success) return validationHook({ success: false, error: result.error, target: 'header' }, c);
    await next();
  };
}

/**
 * An OpenAPIHono for a group of API routes, with the service's validation hook. Routes that declare headers (a
 * z.object) have them checked by checkHeaders, after the route's own middleware (src/api/guards.ts `requires`) and
 * ahead of the other parts of the request (zod-openapi's own order would put params first).
 */
export function apiRouter(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const openapi = app.openapi;
  app.openapi = ((route: Route, handler: never, hook?: never) => {
    const headers = route.request?.headers;
    if (!(headers instanceof z.ZodObject)) return openapi(route, handler, hook);
    const { middleware: own, hide, ...documented } = route;
    if (!hide) app.openAPIRegistry.registerPath(documented);
    const { headers: _checkedAbove, ...request } = route.request!;
    // The route's own middleware (a role guard) first: a caller without the role gets 403 before any 400.
    const middleware = [...(own ? [own].flat() : []), checkHeaders(headers)];
    return openapi({ ...route, request, middleware, hide: true } as Route, handler, hook);
  }) as typeof openapi;
  return app;
}
