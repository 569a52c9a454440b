import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { validationError } from './errors.js';
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

/** JSON as Hono's JSON validator takes it (hono/validator): the media type, parameters aside. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const isJsonBody = (contentType: string | undefined) => JSON_MEDIA_TYPE.test(contentType?.split(';')[0]?.trim() ?? '');

/**
 * For a route whose JSON body is optional: an empty body sent with a JSON Content-Type is no body (valid('json') is
 * then {}), as it is without the header. Clients that always send `Content-Type: application/json` would otherwise
 * get Hono's "Malformed JSON" 400 for a POST they sent nothing with. Only these routes read their body here.
 */
const emptyBodyIsNone: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (isJsonBody(c.req.header('content-type')) && (await c.req.text()).trim() === '') {
    // Hono keeps each body read as its promise (typed as the value).
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve('{}');
  }
  await next();
};

/**
 * For a command route that reads no body (confirm, check-in, DELETE, mark read, …): a body other than none, an empty
 * one or `{}` is a 400 at `(body)`, as an unknown key is where a body is read, so a client sending `{reason}` to
 * check-in learns that it was not read.
 */
const noBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const length = c.req.header('content-length');
  // Over HTTP a body comes with one of the two headers; a Request made in the process (app.request) may have none.
  const mayHaveBody = length !== undefined ? length.trim() !== '0' : c.req.header('transfer-encoding') !== undefined || c.req.raw.body !== null;
  if (mayHaveBody) {
    const text = (await c.req.text()).trim();
    if (text !== '' && !/^\{\s*\}$/.test(text)) throw validationError([{ path: '(body)', message: 'This route takes no body' }]);
  }
  await next();
};

/**
 * An OpenAPIHono for a group of API routes, with the service's validation hook. Routes that declare headers (a
 * z.object) have them checked by checkHeaders, after the route's own middleware (src/api/guards.ts `requires`) and
 * ahead of the other parts of the request (zod-openapi's own order would put params first). Routes whose body is
 * optional take an empty one as none (emptyBodyIsNone); those that read none refuse one (noBody).
 */
export function apiRouter(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const openapi = app.openapi;
  app.openapi = ((route: Route, handler: never, hook?: never) => {
    const headers = route.request?.headers instanceof z.ZodObject ? route.request.headers : undefined;
    const optionalBody = route.request?.body !== undefined && route.request.body.required !== true;
    const takesNoBody = route.request?.body === undefined && route.method !== 'get';
    if (!headers && !optionalBody && !takesNoBody) return openapi(route, handler, hook);
    const { middleware: own, hide, ...documented } = route;
    if (!hide) app.openAPIRegistry.registerPath(documented);
    const { headers: _checkedAbove, ...request } = route.request ?? {};
    // The route's own middleware (a role guard) first: a caller without the role gets 403 before any 400.
    const middleware = [...(own ? [own].flat() : []), ...(headers ? [checkHeaders(headers)] : []), ...(optionalBody ? [emptyBodyIsNone] : []), ...(takesNoBody ? [noBody] : [])];
    return openapi({ ...route, request: headers ? request : route.request, middleware, hide: true } as Route, handler, hook);
  }) as typeof openapi;
  return app;
}
