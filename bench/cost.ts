// (h) What keeping usage costs. Every execution now measures its CPU share and keeps its usage in its
// entry and the run record; a cached run executes nothing and must not slow down, and a map's first run
// meters every element. Each against the same run of the build before usage was kept, when
// FLYWHEEL_BENCH_BEFORE names one (`git worktree add ../before <rev> && (cd ../before && npm ci && npm run
// build)`, then FLYWHEEL_BENCH_BEFORE=../before/bin/flywheel.js). Whole processes, sampled in turns.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chainDagSource } from './cached-run.js';
import { alternate, firstMapRun, FLYWHEEL_BIN, freshDir, heading, line, ratioRows, runIfMain, runProcess, type SummaryRow, type Variant } from './lib.js';

const SAMPLES = 9;
const MAP_SAMPLES = 3;
const BENCH = '(h) usage and cost';

export async function benchCost(): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  const before = process.env.FLYWHEEL_BENCH_BEFORE === undefined ? undefined : resolve(process.env.FLYWHEEL_BENCH_BEFORE);
  if (before === undefined) {
    line(BENCH, 'skipped: set FLYWHEEL_BENCH_BEFORE to a build from before usage was kept');
    return rows;
  }
  const row = ratioRows(BENCH, rows);
  const dir = await freshDir('cost');
  const dag = join(dir, 'dag.ts');
  await writeFile(dag, chainDagSource('bench-dag', 10, 100));
  const store = (name: string): NodeJS.ProcessEnv => ({ ...process.env, FLYWHEEL_STORE: join(dir, `store-${name}`) });
  const variants: Variant[] = [
    { name: 'with usage', bin: FLYWHEEL_BIN, env: store('now') },
    { name: `before usage (${before})`, bin: before, env: store('before') },
  ];
  heading(`${BENCH}: fully cached re-run of the 1,000-step DAG`);
  for (const v of variants) await runProcess('node', [v.bin, 'run', dag], { cwd: dir, env: v.env }); // fill each store
  const dagMs = await alternate(variants, () => ['run', dag], dir, SAMPLES);
  row('cached 1k run: with usage / before', dagMs.get('with usage') as number, dagMs.get(variants[1]?.name ?? '') as number, '≤ 1.02×');

  heading(`${BENCH}: first run of the 10,000-element map (a fresh store each time): every element metered`);
  const fresh = firstMapRun(dir, (v) => (v.bin === FLYWHEEL_BIN ? 'now' : 'before'));
  const mapMs = await alternate(variants, fresh, dir, MAP_SAMPLES);
  row('first 10k-element map run: with usage / before', mapMs.get('with usage') as number, mapMs.get(variants[1]?.name ?? '') as number, '≤ 1.05×');
  return rows;
}

runIfMain(import.meta.url, benchCost);
