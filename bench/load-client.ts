/**
 * The bench's load client (bench/open-loop.ts → LoadClient): runs the open loops and read loads it is sent, one at a
 * time, in a process whose heap holds nothing else, and answers each with its result. A QueueEvents watch per queue is
 * kept from one run to the next (each is ready before its first run sends anything).
 */
import { load, type LoadResult } from './lib.js';
import { CompletionWatch, fromList, openLoop, type LoadClientJob, type OpenLoopResult, type OpenLoopSpec, type ReadLoadSpec } from './open-loop.js';

const watches = new Map<string, CompletionWatch>();

async function watchFor(w: NonNullable<OpenLoopSpec['watch']>): Promise<CompletionWatch> {
  const key = `${w.redisUrl} ${w.prefix} ${w.queue}`;
  let watch = watches.get(key);
  if (!watch) {
    watch = new CompletionWatch(w.queue, w.redisUrl, w.prefix);
    watches.set(key, watch);
    await watch.ready();
  }
  return watch;
}

async function openLoopOf(spec: OpenLoopSpec): Promise<OpenLoopResult> {
  const watch = spec.watch ? await watchFor(spec.watch) : undefined;
  return openLoop({ url: spec.url, rate: spec.rate, durationMs: spec.durationMs, preferWait: spec.preferWait, watch, request: fromList(spec.requests) });
}

function readsOf(spec: ReadLoadSpec): Promise<LoadResult> {
  let i = 0;
  return load({
    url: spec.url,
    connections: spec.connections,
    durationS: spec.durationS,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, ...spec.gets[i++ % spec.gets.length]! }) }],
  });
}

process.on('message', (m: { id: number } & LoadClientJob) => {
  void (async () => {
    let reply: { id: number; result?: OpenLoopResult | LoadResult; error?: string };
    try {
      reply = { id: m.id, result: m.open ? await openLoopOf(m.open) : await readsOf(m.reads!) };
    } catch (e) {
      reply = { id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    process.send!(reply);
  })();
});

// Stopped with SIGTERM by the bench (lib.ts Child.stop): close the watches' connections, then leave.
process.once('SIGTERM', () => {
  void Promise.all([...watches.values()].map((w) => w.close().catch(() => undefined))).finally(() => process.exit(0));
});
process.once('disconnect', () => process.exit(0));

console.log('load client ready');
