import { Migration20261125105933 } from './Migration20261125105933.js';
import { Migration20261125112731 } from './Migration20261125112731.js';
import { Migration20261125113349 } from './Migration20261125113349.js';
import { Migration20261125120000 } from './Migration20261125120000.js';
import { Migration20261208000000 } from './Migration20261208000000.js';
import { Migration20261208001000 } from './Migration20261208001000.js';

/**
 * Every migration, in order. Listed as classes rather than discovered as files, so the same list works from
 * sources (tsx, vitest) and from the built tree. `npm run db:migration:create` writes a new (blank) file: add it here.
 */
export const migrationsList = [
  { name: 'Migration20261125105933', class: Migration20261125105933 },
  { name: 'Migration20261125112731', class: Migration20261125112731 },
  { name: 'Migration20261125113349', class: Migration20261125113349 },
  { name: 'Migration20261125120000', class: Migration20261125120000 },
  { name: 'Migration20261208000000', class: Migration20261208000000 },
  { name: 'Migration20261208001000', class: Migration20261208001000 },
];
