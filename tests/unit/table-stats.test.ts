import { describe, expect, it } from 'vitest';
import { ANALYZE_RULE, tablesToAnalyze, type TableActivity } from '../../src/maintenance/table-stats.js';

const table = (t: Partial<TableActivity> & { table: string }): TableActivity => ({ reltuples: -1, modifiedSinceAnalyze: 0, autovacuum: false, ...t });

describe('tablesToAnalyze (autovacuum’s analyze rule, for the tables autovacuum leaves alone)', () => {
  it('needs more than threshold + scale factor × the rows last counted', () => {
    expect(ANALYZE_RULE).toEqual({ threshold: 50, scaleFactor: 0.1 });
    const tables = [
      table({ table: 'never-analyzed', reltuples: -1, modifiedSinceAnalyze: 51 }),
      table({ table: 'at-threshold', reltuples: -1, modifiedSinceAnalyze: 50 }),
      table({ table: 'big-changed', reltuples: 10_000, modifiedSinceAnalyze: 1_051 }),
      table({ table: 'big-barely', reltuples: 10_000, modifiedSinceAnalyze: 1_050 }),
      table({ table: 'empty', reltuples: 0, modifiedSinceAnalyze: 0 }),
    ];
    expect(tablesToAnalyze(tables)).toEqual(['big-changed', 'never-analyzed']);
  });

  it('leaves to autovacuum every table it analyzes', () => {
    expect(tablesToAnalyze([table({ table: 'busy', modifiedSinceAnalyze: 1e6, autovacuum: true })])).toEqual([]);
  });

  it('takes another rule', () => {
    expect(tablesToAnalyze([table({ table: 't', reltuples: 100, modifiedSinceAnalyze: 5 })], { threshold: 0, scaleFactor: 0.01 })).toEqual(['t']);
  });
});
