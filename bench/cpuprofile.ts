/**
 * Sums a V8 .cpuprofile's self time by function and by file, to find where a process spends its CPU.
 *   npx tsx bench/cpuprofile.ts <file.cpuprofile> [top]
 * (`npm run bench -- --profile` runs figure 1 with the worker under --cpu-prof and prints this.)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** node_modules/<pkg> or the path inside the repository. */
function shortUrl(url: string): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith(ROOT)) return path.slice(ROOT.length);
  const build = path.match(/\/bench-build-[^/]+\/(.*)$/);
  return build ? build[1]! : path;
}

export function summarizeProfile(file: string) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = p.endTime - p.startTime;
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const pkg = f.functionName.startsWith('(') ? f.functionName : shortUrl(f.url);
    const fn = `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalUs: total, idleUs: idle, busyUs: total - idle, byFunction: sorted(byFn), byPackage: sorted(byPkg) };
}

export function printProfile(file: string, top = 25): void {
  const s = summarizeProfile(file);
  const pct = (us: number) => `${((100 * us) / s.busyUs).toFixed(1).padStart(5)}%`;
  const out = [
    `\n${file}: ${(s.totalUs / 1e6).toFixed(1)} s profiled, ${(s.busyUs / 1e6).toFixed(1)} s on CPU (${((100 * s.busyUs) / s.totalUs).toFixed(0)}%); shares below are of on-CPU time`,
    '\nself time by package / file:',
    ...s.byPackage.slice(0, top).map(([k, us]) => `${pct(us)}  ${k}`),
    '\nself time by function:',
    ...s.byFunction.slice(0, top).map(([k, us]) => `${pct(us)}  ${k}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/cpuprofile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  printProfile(file, Number(process.argv[3] ?? 25));
}
