import type { z } from '@hono/zod-openapi';

/** A JSON response of a route declaration. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });

/** A JSON request body of a route declaration (required unless told otherwise). */
export const body = <T extends z.ZodType>(schema: T, required = true) => ({ body: { content: { 'application/json': { schema } }, required } });
