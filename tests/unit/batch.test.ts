import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/batch.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Batcher (concurrent lookups share round trips)', () => {
  it('answers the lookups of one event-loop turn from one run, each with its own result, in order', async () => {
    const runs: number[][] = [];
    const batcher = new Batcher(async (items: number[]) => {
      runs.push(items);
      await tick();
      return items.map((i) => i * 10);
    });
    expect(await Promise.all([1, 2, 3].map((i) => batcher.load(i)))).toEqual([10, 20, 30]);
    // A later turn is a new batch.
    expect(await batcher.load(4)).toBe(40);
    expect(runs).toEqual([[1, 2, 3], [4]]);
  });

  it('a lookup asked after an earlier one was answered is sent after that answer', async () => {
    const order: string[] = [];
    const batcher = new Batcher(async (items: string[]) => {
      order.push(`run ${items.join(',')}`);
      await tick();
      order.push(`done ${items.join(',')}`);
      return items;
    });
    await Promise.all([batcher.load('a').then(() => batcher.load('b')), batcher.load('c')]);
    expect(order).toEqual(['run a,c', 'done a,c', 'run b', 'done b']);
  });

  it('a failed batch of several runs each item again alone: only the lookups that fail alone fail', async () => {
    const runs: number[][] = [];
    const batcher = new Batcher(async (items: number[]) => {
      runs.push(items);
      await tick();
      if (items.includes(13)) throw new Error(`refused ${items.join(',')}`);
      return items;
    });
    const settled = await Promise.allSettled([1, 13, 3].map((i) => batcher.load(i)));
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([1, 'refused 13', 3]);
    expect(runs).toEqual([[1, 13, 3], [1], [13], [3]]);
    // A lone lookup that fails fails once.
    await expect(batcher.load(13)).rejects.toThrow('refused 13');
    expect(runs.at(-1)).toEqual([13]);
  });
});
