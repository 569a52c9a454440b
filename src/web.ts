// Procfile `web`: the HTTP API, Bull Board and docs.
import { runProcess } from './process.js';

await runProcess(['web']);
