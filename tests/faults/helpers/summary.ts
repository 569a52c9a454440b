import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * The fault suite's summary table: each test file records one row per scenario (into a directory the global setup
 * creates and hands over with provide/inject), and the global teardown prints them all at the end of the run.
 */
export interface SummaryRow {
  scenario: string;
  /** Commands accepted (202) by the API, or requests sent for the input scenarios. */
  commands: number;
  /** What was done to the system, e.g. "6 × SIGKILL of a worker". */
  faults: string;
  /** Accepted commands without their effect, or events without their notification. */
  lost: number;
  /** Effects applied more than once (audit, outbox, bookings, notifications beyond one per command or event). */
  duplicated: number;
  /** Answers ≥ 500 other than the 503 an outage is expected to give. */
  serverErrors: number;
  notes?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    faultsSummaryDir: string;
  }
}

export function recordSummary(row: SummaryRow): void {
  const dir = inject('faultsSummaryDir');
  const file = `${row.scenario.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}-${process.pid}-${Date.now()}.json`;
  writeFileSync(join(dir, file), JSON.stringify(row));
}

export function formatTable(rows: SummaryRow[]): string {
  const header = ['scenario', 'commands', 'faults injected', 'lost', 'duplicated', '5xx', 'notes'];
  const body = rows.map((r) => [r.scenario, String(r.commands), r.faults, String(r.lost), String(r.duplicated), String(r.serverErrors), r.notes ?? '']);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

/** vitest globalSetup: a fresh directory for the rows; the teardown prints the table (and removes the directory). */
export default function setup(project: { provide: (key: 'faultsSummaryDir', value: string) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'cw-faults-summary-'));
  project.provide('faultsSummaryDir', dir);
  return () => {
    const rows: SummaryRow[] = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SummaryRow)
      .sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
    const table = formatTable(rows);
    const measured = new Date().toISOString().slice(0, 10);
    process.stdout.write(`\nFault suite summary (measured ${measured}, ${rows.length} rows):\n\n${table}\n\n`);
    if (process.env.FAULTS_SUMMARY_OUT) writeFileSync(process.env.FAULTS_SUMMARY_OUT, `${table}\n`);
    rmSync(dir, { recursive: true, force: true });
  };
}
