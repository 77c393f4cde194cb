// (j) How cost grows: the cached paths of benches (a), (c), (f) and (g) at 1×, 10× and 100× of today's size
// (1,000 → 100,000 steps, elements or runs), per unit, in one process each, so growth shows as linear or not.
// Each size's store is filled first (untimed). FLYWHEEL_BENCH_GROWTH_MAX caps the largest size (default
// 100,000): the 100× fills take minutes on a 2-core machine (100,000 steps executing, 100,000 elements).
//   (a) runLocal of an N-step DAG (chains of 100), fully cached
//   (c) validatePipeline + planPipeline of the same DAG, fully cached
//   (f) runLocal of an N-element map, fully cached (target: 100,000 elements ≤ 1 s)
//   (g) the run view's first page of the runs list over N runs (the server's runs index)
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type * as Flywheel from '../index.js';
import { formatMs, freshDir, heading, importDist, line, median, printTable, runIdAt, runIfMain, timeAsync, type SummaryRow } from './lib.js';

type Api = typeof Flywheel;
const SIZES = [1_000, 10_000, 100_000].filter((n) => n <= Number(process.env.FLYWHEEL_BENCH_GROWTH_MAX ?? 100_000));
const SAMPLES = 3;
const BENCH = '(j) growth';

function chainDag(api: Api, steps: number): Flywheel.PipelineDefinition {
  const Position = z.object({ chain: z.number().int(), index: z.number().int() });
  const seed = api.defineStep({
    id: 'growth-seed',
    version: 1,
    config: Position,
    outputs: { out: api.file({ fileName: 'out.txt' }) },
    async run({ config, outputs }) {
      await writeFile(outputs.out, `chain ${config.chain} step ${config.index}\n`);
    },
  });
  const link = api.defineStep({
    id: 'growth-link',
    version: 1,
    config: Position,
    inputs: { prev: api.file() },
    outputs: { out: api.file({ fileName: 'out.txt' }) },
    async run({ config, outputs }) {
      await writeFile(outputs.out, `chain ${config.chain} step ${config.index}\n`);
    },
  });
  return api.definePipeline({
    name: `growth-dag-${steps}`,
    build(p) {
      for (let chain = 0; chain < steps / 100; chain++) {
        let prev = p.add(seed, { id: `c${chain}-s0`, config: { chain, index: 0 } }).out.out;
        for (let index = 1; index < 100; index++) prev = p.add(link, { id: `c${chain}-s${index}`, config: { chain, index }, inputs: { prev } }).out.out;
      }
    },
  });
}

/** The median time of `fn`, each sample checked to be what is measured (a fully cached run, a plan of hits). */
async function medianOf<T>(fn: () => Promise<T>, check: (result: T) => string | undefined): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const { ms: taken, result } = await timeAsync(fn);
    const problem = check(result);
    if (problem !== undefined) throw new Error(`growth bench: ${problem}`);
    ms.push(taken);
  }
  return median(ms);
}

const allCached = (run: Flywheel.RunRecord): string | undefined =>
  run.status === 'succeeded' && run.steps.every((s) => s.status === 'cached') ? undefined : `run ${run.runId} is ${run.status}, not fully cached`;
const allHits = (plan: Flywheel.Plan): string | undefined => (plan.steps.every((s) => s.decision === 'cached') ? undefined : 'the plan is not all hits');

type Figures = Map<string, Map<number, number>>;

function record(figures: Figures, metric: string, size: number, ms: number): void {
  if (!figures.has(metric)) figures.set(metric, new Map());
  figures.get(metric)?.set(size, ms);
  line(`${metric} at ${size.toLocaleString('en-US')}`, `${formatMs(ms)}  (${((ms * 1000) / size).toFixed(1)} µs per unit)`);
}

export async function benchGrowth(): Promise<SummaryRow[]> {
  heading(`${BENCH}: cached paths at ${SIZES.map((n) => n.toLocaleString('en-US')).join(', ')}`);
  const api = await importDist<Api>('index.js');
  const { RunsIndex } = await importDist<{ RunsIndex: new (store: Flywheel.Store) => { page(q: { limit: number }): Promise<unknown> } }>(
    'ui/server/runs-index.js',
  );
  const logger = api.createLogger({ level: 'warn' });
  const dir = await freshDir('growth');
  const figures: Figures = new Map();
  const map = ((await import(new URL('./pipelines/map.ts', import.meta.url).href)) as { default: Flywheel.PipelineDefinition }).default;

  for (const size of SIZES) {
    const store = api.openStore(join(dir, `dag-${size}`));
    const dag = chainDag(api, size);
    const fill = await timeAsync(() => api.runLocal(api.validatePipeline(dag), { store, logger }));
    line(`fill: ${size.toLocaleString('en-US')}-step DAG, every step executes (untimed)`, formatMs(fill.ms));
    record(figures, '(c) validate + plan, cached', size, await medianOf(async () => api.planPipeline(api.validatePipeline(dag), store), allHits));
    record(figures, '(a) runLocal, cached', size, await medianOf(async () => api.runLocal(api.validatePipeline(dag), { store, logger }), allCached));

    const mapStore = api.openStore(join(dir, `map-${size}`));
    const mapped = (): Promise<Flywheel.RunRecord> => api.runLocal(api.validatePipeline(map, { source: { n: size } }), { store: mapStore, logger });
    const mapFill = await timeAsync(mapped);
    line(`fill: ${size.toLocaleString('en-US')}-element map, first run (untimed)`, formatMs(mapFill.ms));
    record(figures, '(f) map re-run, cached', size, await medianOf(mapped, allCached));

    const runsStore = api.openStore(join(dir, `runs-${size}`));
    const template = (await store.getRun(fill.result.runId)) as Flywheel.RunRecord;
    const small = { ...template, steps: template.steps.slice(0, 10) };
    const written = await timeAsync(async () => {
      for (let i = 0; i < size; i++)
        await runsStore.putRun({ ...small, runId: runIdAt(i), startedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString() });
    });
    line(`fill: ${size.toLocaleString('en-US')} run records (untimed)`, formatMs(written.ms));
    record(
      figures,
      '(g) runs list, first page',
      size,
      await medianOf(
        async () => new RunsIndex(runsStore).page({ limit: 50 }),
        (page) => ((page as { runs: unknown[] }).runs.length === 50 ? undefined : 'the first page is not 50 runs'),
      ),
    );
  }

  heading(`${BENCH}: per unit (µs), and how each 10× in size multiplies the time (10× = linear)`);
  const rows: string[][] = [];
  const summary: SummaryRow[] = [];
  for (const [metric, bySize] of figures) {
    const cells = SIZES.map((n) => (bySize.has(n) ? `${(((bySize.get(n) as number) * 1000) / n).toFixed(1)}` : 'n/a'));
    const growth = SIZES.slice(1).map((n, i) => {
      const before = bySize.get(SIZES[i] as number);
      const after = bySize.get(n);
      return before === undefined || after === undefined ? 'n/a' : `${(after / before).toFixed(1)}×`;
    });
    rows.push([metric, ...cells, ...growth]);
    const largest = SIZES[SIZES.length - 1] as number;
    summary.push({
      bench: BENCH,
      metric: `${metric} at ${largest.toLocaleString('en-US')}`,
      value: formatMs(bySize.get(largest) ?? Number.NaN),
      target: metric.startsWith('(f)') && largest === 100_000 ? '≤ 1 s' : 'linear',
    });
  }
  printTable(
    ['metric', ...SIZES.map((n) => `µs/unit at ${n.toLocaleString('en-US')}`), ...SIZES.slice(1).map((n) => `×time to ${n.toLocaleString('en-US')}`)],
    rows,
  );
  return summary;
}

runIfMain(import.meta.url, benchGrowth);
