// `npm run migrate` and the Procfile's release phase: create the database if missing, apply migrations, exit.
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { migrateDatabase } from './orm.js';

const config = loadConfig();
await migrateDatabase(config.db.url, createLogger(config, 'release'));
