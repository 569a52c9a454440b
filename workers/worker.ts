// Procfile `worker`: the booking-commands worker. No HTTP server here.
import { runProcess } from '../src/process.js';

await runProcess(['worker']);
