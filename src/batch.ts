type Waiter<I, O> = { item: I; resolve: (value: O) => void; reject: (error: unknown) => void };

/**
 * Lets concurrent requests share round trips: the lookups asked for while the event loop serves one turn of I/O
 * (under load, many requests) go together in one round trip, sent in the check phase of that turn (setImmediate);
 * alone, a lookup waits only for the end of its turn. A round trip per lookup (a socket write, the server woken up)
 * was most of a command request's CPU. (Sending a batch only when the previous one is answered made smaller batches
 * and cost more CPU: measured with the bench's figure 2.) Each lookup is sent after everything its caller did before
 * asking had been answered, so the order of a request's own reads and writes is kept. `run` answers the items in
 * order. When a batch of several fails, each of its items runs again alone, so every caller gets the outcome its
 * own lookup would have had: sharing a batch never fails a lookup that would have succeeded alone (`run` must
 * therefore be safe to repeat for an item).
 */
export class Batcher<I, O> {
  private waiting: Waiter<I, O>[] | undefined;

  constructor(private readonly run: (items: I[]) => Promise<O[]>) {}

  load(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (!this.waiting) {
        this.waiting = [];
        setImmediate(() => void this.flush());
      }
      this.waiting.push({ item, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting!;
    this.waiting = undefined;
    try {
      const results = await this.run(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      await Promise.all(batch.map((w) => this.runAlone(w)));
    }
  }

  private async runAlone(w: Waiter<I, O>): Promise<void> {
    try {
      w.resolve((await this.run([w.item]))[0]!);
    } catch (error) {
      w.reject(error);
    }
  }
}
