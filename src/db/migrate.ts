// `npm run migrate` and the Procfile's release phase: create the database if missing, apply migrations, exit.
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { createOrm, ensureDatabase, migrate } from './orm.js';

const config = loadConfig();
const log = createLogger(config, 'release');
await ensureDatabase(config.db.url);
const orm = await createOrm(config.db.url, 2, log);
try {
  const applied = await migrate(orm);
  log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
} finally {
  await orm.close();
}
