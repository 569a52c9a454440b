import { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import { requestId } from 'hono/request-id';
import { DomainError } from '../domain/errors.js';
import { allowedMethods } from './allowed-methods.js';
import { mountBullBoard } from './bull-board.js';
import type { AppDeps, AppEnv } from './context.js';
import { errorResponse, toErrorResponse } from './errors.js';
import { authMiddleware } from './middleware/auth.js';
import { limitBody } from './middleware/body-limit.js';
import { observeRequests } from './middleware/observe.js';
import { bookingRoutes } from './routes/bookings.routes.js';
import { cartRoutes } from './routes/cart.routes.js';
import { catalogRoutes } from './routes/catalog.routes.js';
import { jobRoutes } from './routes/jobs.routes.js';
import { notificationRoutes } from './routes/notifications.routes.js';
import { opsRoutes } from './routes/ops.routes.js';
import { promoRoutes } from './routes/promo.routes.js';
import { reviewRoutes } from './routes/reviews.routes.js';
import { documentWebhooks, webhookRoutes } from './routes/webhooks.routes.js';
import { validationHook } from './validation.js';

import { API_PREFIX } from './paths.js';
export { API_PREFIX };

/** The swagger-ui-dist release /docs loads from the CDN: pinned, so the page is the one this release was tried with. */
export const SWAGGER_UI_VERSION = '5.36.0';

/**
 * The HTTP app: validates, authorizes, enqueues and reads. It never writes booking state (workers do).
 * Built from its dependencies so tests and every process entrypoint share it.
 */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ strict: false, defaultHook: validationHook });

  app.onError((err, c) => {
    const { status } = toErrorResponse(err);
    if (status >= 500) deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'request failed');
    return errorResponse(c, err);
  });
  // A known path asked with a method it has no route for is a 405 naming the ones it has; an unknown path a 404.
  let allowedOn: ((path: string) => string[]) | undefined; // built at the first miss, once every route is in
  app.notFound((c) => {
    const allowed = (allowedOn ??= allowedMethods(app.routes))(c.req.path);
    if (!allowed.length) return errorResponse(c, new DomainError('not_found', `No route for ${c.req.method} ${c.req.path}`));
    c.header('Allow', allowed.join(', '));
    return errorResponse(c, new DomainError('method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}: it takes ${allowed.join(', ')}`));
  });
  app.use('*', requestId());
  app.use('*', observeRequests(deps.logger));

  app.route('/', opsRoutes({ ...deps, queues: Object.values(deps.queues) }));
  mountBullBoard(app, deps);

  const api = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  api.use(
    '*',
    limitBody(deps.config.http.bodyLimitBytes, (c) =>
      errorResponse(c, new DomainError('payload_too_large', `Body exceeds ${deps.config.http.bodyLimitBytes} bytes`)),
    ),
  );
  api.use('*', authMiddleware({ orm: deps.orm, jwtSecret: deps.config.auth.jwtSecret }));
  api.route('/', catalogRoutes(deps));
  api.route('/', bookingRoutes(deps));
  api.route('/', cartRoutes(deps));
  api.route('/', reviewRoutes(deps));
  api.route('/', promoRoutes(deps));
  api.route('/', jobRoutes(deps));
  api.route('/', notificationRoutes(deps));
  api.route('/', webhookRoutes(deps));
  app.route(API_PREFIX, api);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  documentWebhooks(app.openAPIRegistry);
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Coworking booking service',
      version: '0.1.0',
      description: 'Commands answer 202 with a job; poll `statusUrl` or send `Prefer: wait=N`.',
    },
    security: [{ bearerAuth: [] }],
  });
  app.get('/docs', swaggerUI({ url: '/openapi.json', version: SWAGGER_UI_VERSION }));
  return app;
}

export type App = ReturnType<typeof createApp>;
