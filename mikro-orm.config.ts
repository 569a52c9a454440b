// Used by the MikroORM CLI (`npm run db:migration:create`, …). The app builds its options in src/db/orm-options.ts.
import { loadConfig } from './src/config.js';
import { ormOptions } from './src/db/orm-options.js';

export default ormOptions(loadConfig().db.url);
