import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Handler, type MiddlewareHandler } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { HTTPException } from 'hono/http-exception';
import { DomainError } from '../domain/errors.js';
import type { AppDeps } from './context.js';
import { errorResponse } from './errors.js';
import { RedisNotConnectedError } from '../redis.js';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board for every queue, behind HTTP basic auth (mounted before the board so nothing leaks).
 *
 * The board lives in its own Hono app that the main one forwards to. Its routes (`/api/queues/:queueName/:jobId/logs`
 * beside `/api/queues/:queueName/metrics`, …) are ones hono's RegExpRouter cannot compile, and on the main router they
 * made SmartRouter fall back to the slower TrieRouter for every API route, the hot booking POST included.
 */
export function mountBullBoard(app: Hono<any>, deps: AppDeps): void {
  const { user, password, readOnly } = deps.config.bullBoard;
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: Object.values(deps.queues).map((q) => new BullMQAdapter(q, { readOnlyMode: readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Coworking queues' } },
  });
  const basic = basicAuth({ username: user, password, realm: 'bull-board' });
  // basicAuth refuses by throwing; app.onError would answer a bare 401 without the WWW-Authenticate challenge, and a
  // browser only sends credentials when challenged. So the refusal is answered here: the error envelope + challenge.
  const auth: MiddlewareHandler = async (c, next) => {
    try {
      return await basic(c, next);
    } catch (e) {
      if (!(e instanceof HTTPException) || e.status !== 401) throw e;
      c.header('WWW-Authenticate', e.getResponse().headers.get('WWW-Authenticate') ?? 'Basic realm="bull-board"');
      return errorResponse(c, new DomainError('unauthorized', 'Bull Board needs its credentials (HTTP basic auth)'));
    }
  };
  // The page as a browser may be pointed at it, with a trailing slash: sent to the board's own address.
  const board = new Hono().get(`${BULL_BOARD_PATH}/`, (c) => c.redirect(BULL_BOARD_PATH, 301)).route(BULL_BOARD_PATH, serverAdapter.registerPlugin());
  board.onError((err, c) => {
    deps.logger.error({ err, path: c.req.path }, 'bull board request failed');
    return errorResponse(c, err);
  });
  board.notFound((c) => errorResponse(c, new DomainError('not_found', `No route for ${c.req.method} ${c.req.path}`)));
  // The board's own API answers a Redis failure with a 500 of its own making: with the queues' Redis not connected,
  // its API calls get the outage answer every other route gives (503, the envelope, Retry-After); its page still loads.
  const boardApi = `${BULL_BOARD_PATH}/api/`;
  const forward: Handler = (c) => {
    if (c.req.path.startsWith(boardApi) && deps.redis.status !== 'ready') return errorResponse(c, new RedisNotConnectedError());
    return board.fetch(c.req.raw, c.env);
  };
  for (const path of [BULL_BOARD_PATH, `${BULL_BOARD_PATH}/*`]) app.use(path, auth).all(path, forward);
}
