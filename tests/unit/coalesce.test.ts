import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/db/coalesce.js';

/** A statement that records the batches it was given and answers when told to. */
function recorder(fail?: (items: number[]) => boolean) {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  const run = (items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      batches.push(items);
      pending.push(() => (fail?.(items) ? reject(new Error(`batch ${items.join(',')} failed`)) : resolve(items.map((i) => i * 10))));
    });
  const answer = async () => {
    while (pending.length) pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, run, answer };
}

describe('Coalescer', () => {
  it('a lone call runs at once; calls made meanwhile wait and go together in the next batch', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { name: 'test', maxBatch: 10 });
    const first = c.call(1);
    expect(r.batches).toEqual([[1]]);
    const rest = [c.call(2), c.call(3), c.call(4)];
    expect(r.batches).toHaveLength(1);
    await r.answer();
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
    await r.answer();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
  });

  it('never puts more than maxBatch calls, nor two calls with one key, in a batch', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { name: 'test', maxBatch: 3, key: (i) => String(i % 3) });
    const calls = [0, 1, 4, 3, 5, 6, 9].map((i) => c.call(i));
    for (let n = 0; n < 5; n++) await r.answer();
    // 4 has 1's key and waits; 3 has 0's key, but 0 is in the batch before; 9 waits for 6.
    expect(r.batches).toEqual([[0], [1, 3, 5], [4, 6], [9]]);
    expect(await Promise.all(calls)).toEqual([0, 10, 40, 30, 50, 60, 90]);
  });

  it('a failed batch runs each of its calls alone: only the call that fails alone gets the error', async () => {
    const r = recorder((items) => items.includes(3));
    const c = new Coalescer(r.run, { name: 'test', maxBatch: 10 });
    const first = c.call(1);
    const settled = Promise.allSettled([first, c.call(2), c.call(3), c.call(4)]);
    for (let n = 0; n < 4; n++) await r.answer();
    expect(r.batches).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
    expect((await settled).map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 20, 'batch 3 failed', 40]);
  });
});
