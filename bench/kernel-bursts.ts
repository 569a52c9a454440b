/**
 * The kernel's DAMON monitor threads (`kdamond.N`, see kernelReclaimLabel in ./lib.ts) around a run: when each was on
 * a CPU, and what that did to the requests of an open loop. Such a thread samples memory access at every sampling
 * interval (0.5 s on the machine of docs/performance-log.md) and takes a core for several milliseconds each time; on
 * two cores every request in flight then waits, whoever serves it. Read from `/proc/<pid>/schedstat` (nanoseconds on
 * a CPU) every SAMPLE_MS in the bench process, which only waits while the load client runs an open loop.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { percentile } from './table.js';

/** A stretch in which a monitor thread was on a CPU (epoch ms, to the sampling period), and the CPU it took. */
export interface Burst {
  startMs: number;
  endMs: number;
  cpuMs: number;
}

/** What the bursts of one run did to its requests. */
export interface BurstEffect {
  /** Bursts per second of the run, and the CPU of the median one (ms). */
  perSecond: number;
  medianCpuMs: number;
  /** Share (%) of all requests, and of those slower than the run's p99, that were in flight during a burst. */
  inFlightShare: number;
  tailShare: number;
  /** The p99 (ms) of the requests that were in flight during none. */
  p99Outside: number;
}

const SAMPLE_MS = 2;
/** Samples of growth at most this far apart are one burst (a monitor's pass is seen as several short runs). */
const MERGE_GAP_MS = 4;
/** A request counts as in flight during a burst that ended up to this long before it was sent (the time to catch up). */
const SLACK_MS = 1;

const epochNow = () => performance.timeOrigin + performance.now();

function monitorPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('kdamond')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export class KernelMonitorBursts {
  private constructor(private readonly pids: number[]) {}

  /** The monitor threads running now, or undefined when there are none (or their CPU time cannot be read). */
  static find(): KernelMonitorBursts | undefined {
    const found = new KernelMonitorBursts(monitorPids());
    try {
      return found.pids.length && Number.isFinite(found.onCpuNs()) ? found : undefined;
    } catch {
      return undefined;
    }
  }

  private onCpuNs(): number {
    let total = 0;
    for (const pid of this.pids) total += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    return total;
  }

  /** Runs `fn` while sampling: the bursts seen from its start to its end. */
  async around<T>(fn: () => Promise<T>): Promise<{ result: T; bursts: Burst[] }> {
    const bursts: Burst[] = [];
    let last = this.onCpuNs();
    let lastAt = epochNow();
    const timer = setInterval(() => {
      const [value, at] = [this.onCpuNs(), epochNow()];
      if (value > last) {
        const previous = bursts.at(-1);
        const cpuMs = (value - last) / 1e6;
        if (previous && lastAt - previous.endMs <= MERGE_GAP_MS) (previous.endMs = at), (previous.cpuMs += cpuMs);
        else bursts.push({ startMs: lastAt, endMs: at, cpuMs });
      }
      [last, lastAt] = [value, at];
    }, SAMPLE_MS);
    try {
      return { result: await fn(), bursts };
    } finally {
      clearInterval(timer);
    }
  }
}

/** Which requests (latency ms, sent at epoch ms; parallel arrays) were in flight during one of the bursts. */
export function burstEffect(latencies: number[], sentAtMs: number[], bursts: Burst[], durationMs: number): BurstEffect {
  const during = latencies.map((ms, i) => {
    const [from, to] = [sentAtMs[i]!, sentAtMs[i]! + ms];
    return bursts.some((b) => b.startMs <= to && from <= b.endMs + SLACK_MS);
  });
  const p99 = percentile(latencies, 99);
  const tail = during.filter((_, i) => latencies[i]! > p99);
  const share = (flags: boolean[]) => (flags.length ? (100 * flags.filter(Boolean).length) / flags.length : 0);
  return {
    perSecond: (bursts.length * 1000) / durationMs,
    medianCpuMs: bursts.length ? percentile(bursts.map((b) => b.cpuMs), 50) : 0,
    inFlightShare: share(during),
    tailShare: share(tail),
    p99Outside: percentile(latencies.filter((_, i) => !during[i]), 99),
  };
}
