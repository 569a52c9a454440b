import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import type { AppDeps } from './context.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** Bull Board for every queue, behind HTTP basic auth (mounted before the board so nothing leaks). */
export function mountBullBoard(app: Hono<any>, deps: AppDeps): void {
  const { user, password, readOnly } = deps.config.bullBoard;
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: Object.values(deps.queues).map((q) => new BullMQAdapter(q, { readOnlyMode: readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Coworking queues' } },
  });
  const auth = basicAuth({ username: user, password, realm: 'bull-board' });
  app.use(BULL_BOARD_PATH, auth);
  app.use(`${BULL_BOARD_PATH}/*`, auth);
  app.route(BULL_BOARD_PATH, serverAdapter.registerPlugin());
}
