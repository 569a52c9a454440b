/**
 * The bench's load client (bench/open-loop.ts → LoadClient): runs the open loops it is sent, one at a time, in a
 * process whose heap holds nothing else, and answers each with its OpenLoopResult. A QueueEvents watch per queue is
 * kept from one run to the next (each is ready before its first run sends anything).
 */
import { CompletionWatch, fromList, openLoop, type OpenLoopResult, type OpenLoopSpec } from './open-loop.js';

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

process.on('message', (m: { id: number; spec: OpenLoopSpec }) => {
  void (async () => {
    let reply: { id: number; result?: OpenLoopResult; error?: string };
    try {
      const { spec } = m;
      const watch = spec.watch ? await watchFor(spec.watch) : undefined;
      const result = await openLoop({ url: spec.url, rate: spec.rate, durationMs: spec.durationMs, preferWait: spec.preferWait, watch, request: fromList(spec.requests) });
      reply = { id: m.id, result };
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
