// (g) What tracing costs. Tracing off (no OTEL_* set) must cost nothing: the cached 1,000-step DAG of
// bench (a) against the same run of a build without tracing, when FLYWHEEL_BENCH_BEFORE names one
// (`git worktree add ../before <rev> && (cd ../before && npm ci && npm run build)`, then
// FLYWHEEL_BENCH_BEFORE=../before/bin/flywheel.js). Tracing on, to a live Jaeger (built into the tools
// cache by scripts/install-test-servers.sh): that cached run, and the first run of bench (f)'s
// 10,000-element map, each against the same run untraced. Whole processes, sampled in turns.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chainDagSource } from './cached-run.js';
import { alternate, firstMapRun, FLYWHEEL_BIN, freshDir, heading, line, ratioRows, runIfMain, runProcess, type SummaryRow, type Variant } from './lib.js';
import { JAEGER_BIN, startJaeger } from '../test/support/jaeger.js';

const SAMPLES = 9;
const MAP_SAMPLES = 3;
const BENCH = '(g) tracing';

export async function benchTracing(): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  const row = ratioRows(BENCH, rows);
  const jaeger = existsSync(JAEGER_BIN) ? await startJaeger() : undefined;
  try {
    const dir = await freshDir('tracing');
    const dag = join(dir, 'dag.ts');
    await writeFile(dag, chainDagSource('bench-dag', 10, 100));
    const store = (name: string): NodeJS.ProcessEnv => ({ ...process.env, FLYWHEEL_STORE: join(dir, `store-${name}`) });
    const traced = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger?.otlpEndpoint,
      OTEL_SERVICE_NAME: 'flywheel-bench',
    });
    const before = process.env.FLYWHEEL_BENCH_BEFORE === undefined ? undefined : resolve(process.env.FLYWHEEL_BENCH_BEFORE);
    const variants: Variant[] = [
      { name: 'cached run, tracing off', bin: FLYWHEEL_BIN, env: store('off') },
      ...(before === undefined ? [] : [{ name: `cached run, the build before tracing (${before})`, bin: before, env: store('before') }]),
      ...(jaeger === undefined ? [] : [{ name: 'cached run, traced to Jaeger', bin: FLYWHEEL_BIN, env: traced(store('on')) }]),
    ];
    heading(`${BENCH}: fully cached re-run of the 1,000-step DAG`);
    for (const v of variants) await runProcess('node', [v.bin, 'run', dag], { cwd: dir, env: v.env }); // fill each store
    const dagMs = await alternate(variants, () => ['run', dag], dir, SAMPLES);
    const off = dagMs.get('cached run, tracing off') as number;
    if (before !== undefined) row('cached 1k run: tracing off / build before tracing', off, dagMs.get(variants[1]?.name ?? '') as number, '≤ 1.02×');
    else line('tracing off against the build before it', 'skipped: set FLYWHEEL_BENCH_BEFORE');
    if (jaeger === undefined) {
      line('tracing on', `skipped: no Jaeger at ${JAEGER_BIN}`);
      return rows;
    }
    row('cached 1k run: traced to Jaeger / tracing off', dagMs.get('cached run, traced to Jaeger') as number, off, '≤ 1.30×');

    heading(`${BENCH}: first run of the 10,000-element map (a fresh store each time)`);
    const mapVariants: Variant[] = [
      { name: 'first map run, tracing off', bin: FLYWHEEL_BIN, env: process.env },
      { name: 'first map run, traced to Jaeger', bin: FLYWHEEL_BIN, env: traced(process.env) },
    ];
    const fresh = firstMapRun(dir, (v) => (v.name.endsWith('off') ? 'off' : 'on'));
    // Jaeger ingests a traced map's ~7,000 spans after the run: a pause keeps that out of the next sample.
    const mapMs = await alternate(mapVariants, fresh, dir, MAP_SAMPLES, 5000);
    row(
      'first 10k-element map run: traced / tracing off',
      mapMs.get('first map run, traced to Jaeger') as number,
      mapMs.get('first map run, tracing off') as number,
      '≤ 1.05×',
    );
    const spans = (await jaeger.traces('flywheel-bench', 1)).map((t) => t.length);
    line('traces received', `${spans.length}; spans in the largest: ${Math.max(...spans)}`);
  } finally {
    await jaeger?.stop();
  }
  return rows;
}

runIfMain(import.meta.url, benchTracing);
