import { statementBatchSize } from '../metrics.js';

/**
 * Coalesces calls of one statement into batches: a call that arrives while a batch is in flight waits and goes with
 * the next one, so many calls share a round trip (and a Postgres wake-up) under load, while at a light load every
 * call runs at once, alone: no timer, no added latency. `run` gets the batch's items and answers one output per
 * item, in order. If a batch of several fails, each of its items runs again alone, so every caller gets the outcome
 * (or the error) its own statement would have had: a batch never makes a call fail that would have succeeded.
 * Items with the same `key` never share a batch (a statement may not touch one row twice); a later one waits for
 * the next batch.
 * (The API batches per event-loop turn instead, src/batch.ts: its lookups come in turns of requests, which
 * measured fuller batches there; the worker's statements come from job handlers and pile up behind one in flight.)
 */
export class Coalescer<I, O> {
  private readonly queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: {
      /** The statement's name in the `statement_batch_size` metric. */
      name: string;
      maxBatch: number;
      key?: (item: I) => string;
    },
  ) {}

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || !this.queue.length) return;
    const batch = this.take();
    statementBatchSize.observe({ statement: this.opts.name }, batch.length);
    this.inFlight++;
    void this.settle(batch).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  private take() {
    const { maxBatch, key } = this.opts;
    if (!key) return this.queue.splice(0, maxBatch);
    const keys = new Set<string>();
    const batch: typeof this.queue = [];
    for (let i = 0; i < this.queue.length && batch.length < maxBatch; ) {
      const k = key(this.queue[i]!.item);
      if (keys.has(k)) {
        i++;
        continue;
      }
      keys.add(k);
      batch.push(...this.queue.splice(i, 1));
    }
    return batch;
  }

  private async settle(batch: typeof this.queue): Promise<void> {
    try {
      const out = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      await Promise.all(batch.map((b) => this.run([b.item]).then((out) => b.resolve(out[0]!), b.reject)));
    }
  }
}
