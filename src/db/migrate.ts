// `npm run migrate` and the Procfile's release phase: create the database if missing, apply migrations, exit.
import { createLogger } from '../logger.js';
import { loadConfigOrExit, startOrExit } from '../start-failure.js';
import { migrateDatabase } from './orm.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'release');
await startOrExit(config, logger, () => migrateDatabase(config.db.url, logger));
