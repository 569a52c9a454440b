import { describe, expect, it } from 'vitest';
import { burstEffect, type Burst } from '../../bench/kernel-bursts.js';

/** The bench's account of the kernel monitor's bursts (bench/kernel-bursts.ts), on made-up runs. */
describe('burstEffect', () => {
  // 1000 requests, one every 5 ms from t = 0, each 1 ms, except the ones in flight during the two bursts (10 ms).
  const bursts: Burst[] = [
    { startMs: 1000, endMs: 1008, cpuMs: 6 },
    { startMs: 3000, endMs: 3010, cpuMs: 10 },
  ];
  const sentAtMs = Array.from({ length: 1000 }, (_, i) => i * 5);
  const latencies = sentAtMs.map((at) => (bursts.some((b) => at >= b.startMs - 1 && at <= b.endMs) ? 10 : 1));

  it('counts the bursts, their median CPU, and which requests were in flight during one', () => {
    const effect = burstEffect(latencies, sentAtMs, bursts, 5000);
    expect(effect.perSecond).toBeCloseTo(0.4);
    expect(effect.medianCpuMs).toBe(6);
    // In flight during a burst: sent within it, or sent just before it and still running (1 ms) when it began, or up
    // to 1 ms after its end. Here the sends at 1000, 1005 and 3000, 3005, 3010.
    expect(effect.inFlightShare).toBeCloseTo(0.5);
    // Slower than the p99 (1 ms: rank 990 of 1000): the five of 10 ms, all held up by a burst…
    expect(effect.tailShare).toBe(100);
    // …and without the requests the bursts held up, the p99 is the 1 ms every other request took.
    expect(effect.p99Outside).toBe(1);
  });

  it('without bursts: nothing in flight during one, the p99 of all', () => {
    const plain = latencies.map((_, i) => (i % 100 === 0 ? 7 : 1));
    expect(burstEffect(plain, sentAtMs, [], 5000)).toEqual({ perSecond: 0, medianCpuMs: 0, inFlightShare: 0, tailShare: 0, p99Outside: 1 });
  });

  it('a request sent right after a burst ended still counts (the machine is catching up), one sent later does not', () => {
    const one: Burst[] = [{ startMs: 100, endMs: 110, cpuMs: 5 }];
    expect(burstEffect([0.5], [110.8], one, 1000).inFlightShare).toBe(100);
    expect(burstEffect([0.5], [111.5], one, 1000).inFlightShare).toBe(0);
    // One that began before the burst and was still running at its start.
    expect(burstEffect([3], [98], one, 1000).inFlightShare).toBe(100);
    expect(burstEffect([1], [98], one, 1000).inFlightShare).toBe(0);
  });
});
