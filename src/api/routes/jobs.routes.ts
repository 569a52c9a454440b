import { createRoute } from '@hono/zod-openapi';
import { DomainError } from '../../domain/errors.js';
import { isStaffRole, type AppDeps, type AppEnv } from '../context.js';
import { readJob } from '../job-status.js';
import * as S from '../schemas.js';
import { apiRouter } from '../router.js';

const getJob = createRoute({
  method: 'get',
  path: '/jobs/{jobId}',
  tags: ['jobs'],
  summary: "A command job's state, result or error (job's owner or staff)",
  description: 'Answers from BullMQ while it holds the job, then from the inbox, so a trimmed job still answers.',
  request: { params: S.JobIdParam },
  responses: { 200: { content: { 'application/json': { schema: S.JobStatus } }, description: 'Job status' }, ...S.errors },
});

export function jobRoutes(deps: AppDeps) {
  const app = apiRouter();
  app.openapi(getJob, async (c) => {
    const { jobId } = c.req.valid('param');
    const user = c.get('user');
    const view = await readJob(deps, jobId);
    if (!view || (!isStaffRole(user.role) && view.ownerId !== user.id)) throw new DomainError('not_found', `Job ${jobId} not found`);
    return c.json(view.status, 200);
  });
  return app;
}
