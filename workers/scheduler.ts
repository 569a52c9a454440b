// Procfile `scheduler`: registers the maintenance job schedulers and runs their worker.
import { runProcess } from '../src/process.js';

await runProcess(['scheduler']);
