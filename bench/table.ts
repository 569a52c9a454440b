/**
 * The one table `npm run bench` prints, and the small statistics every figure goes through.
 * Other bench modules (bench/follow-ups.bench.ts) return rows of this shape.
 */
export type Row = { figure: string; value: string; baseline: string; ratio: string; note?: string };

/** Repeated measurements of one quantity: median with min–max. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stat(runs: number[]): Stat {
  if (runs.length === 0) return { median: NaN, min: NaN, max: NaN, runs };
  const s = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs };
}

/** Percentile (nearest rank) of raw samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function num(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  const d = digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `1,234 jobs/s (1,100–1,300)`. */
export function fmt(s: Stat, unit: string, digits?: number): string {
  if (!Number.isFinite(s.median)) return 'n/a';
  const range = s.runs.length > 1 ? ` (${num(s.min, digits)}–${num(s.max, digits)})` : '';
  return `${num(s.median, digits)} ${unit}${range}`;
}

/** ours ÷ baseline, as `0.52×`. */
export function ratio(ours: number, baseline: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0) return 'n/a';
  return `${num(ours / baseline, 2)}×`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows: Row[]): string {
  const lines = ['| figure | value: median (min–max) | baseline | ratio | note |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${[r.figure, r.value, r.baseline, r.ratio, r.note ?? ''].map(cell).join(' | ')} |`);
  return lines.join('\n');
}
