import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { HAND_WRITTEN_CHECKS, HAND_WRITTEN_INDEXES } from '../../src/db/migrations/hand-written.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * The migrations and the entities describe one schema. MikroORM's schema generator compares the entities with a
 * database the migrations made (the test template); what it would change is only the drop of each hand-written
 * object it cannot know of (src/db/migrations/hand-written.ts). An entity field without its migration, or a
 * migration without its entity field, shows up here as another statement.
 */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: Orm;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm(db.url, { poolMax: 1 });
});
afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

describe('migrations and entities', () => {
  it('agree: the generator would only drop the hand-written indexes and CHECK constraints, each of them', async () => {
    const sql = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    const statements = sql
      .split(/;\s*\n/)
      .map((s) => s.replace(/;\s*$/, '').trim())
      .filter((s) => s !== '' && !s.startsWith('--'));
    const drops = new Set([
      ...HAND_WRITTEN_INDEXES.map((name) => `drop index "${name}"`),
      ...HAND_WRITTEN_CHECKS.map((name) => expect.stringMatching(new RegExp(`^alter table "[a-z_]+" drop constraint ${name}$`))),
    ]);
    expect(statements.sort()).toEqual(expect.arrayContaining([...drops]));
    expect(statements).toHaveLength(drops.size);
  });
});
