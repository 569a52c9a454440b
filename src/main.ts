// `npm start`: the whole service in one process for a laptop. Creates the database if missing, migrates,
// then serves the API and runs the workers and the scheduler.
import { runProcess } from './process.js';

await runProcess(['web', 'worker', 'scheduler'], { migrate: true });
