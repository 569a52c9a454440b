import type { MiddlewareHandler } from 'hono';
import { verify } from 'hono/jwt';
import { z } from 'zod';
import { UserSchema, ROLES } from '../../db/entities/index.js';
import { DomainError } from '../../domain/errors.js';
import type { Orm } from '../../db/orm.js';
import type { AppEnv, AuthUser } from '../context.js';
import { notStorable, STORABLE_TEXT } from '../schemas.js';

const ClaimsSchema = z.object({
  // The user's id, compared as text wherever ownership is checked: lower-cased, as every id the API accepts.
  sub: z.uuid().toLowerCase(),
  email: z.email().max(320),
  // Postgres text cannot hold NUL, nor keep an unpaired surrogate as sent: such a claim is refused (401), never a
  // failed upsert (which would read as 503) or a name stored changed.
  name: z.string().min(1).max(200).regex(STORABLE_TEXT, notStorable),
  role: z.enum(ROLES),
  exp: z.number(),
});

const unauthorized = (message: string) => new DomainError('unauthorized', message);

/**
 * Bearer JWT (HS256 only: `alg` is pinned, so `none` or RS/HS confusion is refused), claims checked with zod,
 * the user upserted from them. Upserts are remembered per process so a steady client costs no write.
 */
export function authMiddleware(deps: { orm: Orm; jwtSecret: string }): MiddlewareHandler<AppEnv> {
  const known = new Map<string, string>();
  const remember = (key: string, value: string) => {
    if (known.size >= 10_000) known.delete(known.keys().next().value as string);
    known.set(key, value);
  };

  async function upsertUser(user: AuthUser): Promise<void> {
    const fingerprint = `${user.email}\u0000${user.name}\u0000${user.role}`;
    if (known.get(user.id) === fingerprint) return;
    const now = new Date();
    await deps.orm.em
      .fork()
      .createQueryBuilder(UserSchema)
      .insert({ ...user, createdAt: now, updatedAt: now })
      .onConflict('id')
      .merge(['email', 'name', 'role', 'updatedAt'])
      .execute('run');
    remember(user.id, fingerprint);
  }

  // Tokens that passed verification, until they expire: HMAC verification through WebCrypto on every request was a
  // measured hot spot of the API. Keyed by the exact token string, so only a byte-identical token hits.
  const verified = new Map<string, { user: AuthUser; expiresAtMs: number }>();

  async function authenticate(token: string): Promise<AuthUser> {
    const hit = verified.get(token);
    if (hit && hit.expiresAtMs > Date.now()) return hit.user;
    if (hit) verified.delete(token);
    let payload: unknown;
    try {
      payload = await verify(token, deps.jwtSecret, { alg: 'HS256' });
    } catch {
      throw unauthorized('Invalid or expired token');
    }
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) {
      // Which claims, and why (a display name past 200 characters is not a missing one).
      const why = claims.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
      throw unauthorized(`Token claims are missing or invalid (sub, email, name, role, exp needed): ${why}`);
    }
    const user: AuthUser = { id: claims.data.sub, email: claims.data.email, name: claims.data.name, role: claims.data.role };
    if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string);
    verified.set(token, { user, expiresAtMs: claims.data.exp * 1000 });
    return user;
  }

  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = header?.match(/^Bearer\s+(\S+)$/i);
    if (!match?.[1]) throw unauthorized('Missing bearer token');
    const user = await authenticate(match[1]);
    await upsertUser(user);
    c.set('user', user);
    await next();
  };
}
