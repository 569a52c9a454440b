/**
 * Redis's own latency monitor around a run: in how many of the run's seconds Redis itself spent ≥ `thresholdMs` on
 * one command, and the worst. A fast command (GET, an MGET of a few keys) taking milliseconds means the Redis
 * process was off the CPU in the middle of it, and every request waiting on Redis then, whoever sent it, waited too:
 * a tail no code in the API can remove. The monitor keeps one sample per second and event (that second's worst),
 * so whole seconds are what it can count. It needs CONFIG (a managed Redis may refuse it: then there is no figure);
 * the threshold it set is put back at the end.
 */
import type { Redis } from 'ioredis';

export interface Stalls {
  /** Seconds of the run in which some command took ≥ the threshold. */
  seconds: number;
  /** The worst such command, ms (0 when none). */
  worstMs: number;
}

const EVENTS = ['command', 'fast-command'];

export class RedisStalls {
  private previous: string | undefined;

  private constructor(
    private readonly redis: Redis,
    readonly thresholdMs: number,
  ) {}

  /** Turns the monitor on, or answers undefined when this Redis does not let us. */
  static async start(redis: Redis, thresholdMs = 3): Promise<RedisStalls | undefined> {
    const s = new RedisStalls(redis, thresholdMs);
    try {
      const [, value] = (await redis.call('CONFIG', 'GET', 'latency-monitor-threshold')) as string[];
      s.previous = value ?? '0';
      await redis.call('CONFIG', 'SET', 'latency-monitor-threshold', String(thresholdMs));
      return s;
    } catch {
      return undefined;
    }
  }

  /** Runs `fn` with the monitor's samples cleared before and read after. */
  async around<T>(fn: () => Promise<T>): Promise<{ result: T; stalls: Stalls }> {
    await this.redis.call('LATENCY', 'RESET');
    const result = await fn();
    const seconds = new Set<number>();
    let worstMs = 0;
    for (const event of EVENTS) {
      for (const [at, ms] of (await this.redis.call('LATENCY', 'HISTORY', event)) as [number, number][]) {
        seconds.add(at);
        worstMs = Math.max(worstMs, ms);
      }
    }
    return { result, stalls: { seconds: seconds.size, worstMs } };
  }

  async stop(): Promise<void> {
    await this.redis.call('CONFIG', 'SET', 'latency-monitor-threshold', this.previous ?? '0').catch(() => undefined);
  }
}
