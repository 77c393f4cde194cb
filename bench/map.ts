// (f) p.map over 10,000 trivial JSON elements: first run, fully cached re-run and re-run with one
// element changed, in wall time and in engine time (the run record's durationMs), on the local
// executor in-process and on Temporal (`flywheel run --engine temporal`, a dev server and a cpu worker
// started here). Targets: a cached local re-run under 1 s, a one-changed Temporal re-run under 10 s. Baseline, measured here too: the same 10,000 operations as one plain step,
// which has one cache entry instead of 10,000 (first run, cached re-run, one element changed).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Flywheel from '../index.js';
import { startTemporalSuite } from '../test/support/temporal.js';
import {
  FLYWHEEL_BIN,
  runProcess,
  formatMs,
  formatRatio,
  formatSamples,
  freshDir,
  heading,
  importDist,
  line,
  median,
  runIfMain,
  timeAsync,
  type SummaryRow,
} from './lib.js';

type Api = typeof Flywheel;

const ELEMENTS = 10_000;
/** Fresh-store runs per pipeline (each fills a store of 10,000 entries). */
const FIRST_SAMPLES = 2;
/** Cached and one-changed re-runs per pipeline, on the store the first sample filled. */
const SAMPLES = 5;
/** The target for a fully cached re-run of the map, in engine time. */
const CACHED_TARGET_MS = 1000;
const BENCH = '(f) map 10k elements';

/** The two pipelines, as files: the in-process runs import them, Temporal's CLI and workers load them. */
const PIPELINES = { map: new URL('./pipelines/map.ts', import.meta.url), plain: new URL('./pipelines/map-baseline.ts', import.meta.url) };

async function pipelines(): Promise<{ map: Flywheel.PipelineDefinition; plain: Flywheel.PipelineDefinition }> {
  const load = async (url: URL): Promise<Flywheel.PipelineDefinition> => ((await import(url.href)) as { default: Flywheel.PipelineDefinition }).default;
  return { map: await load(PIPELINES.map), plain: await load(PIPELINES.plain) };
}

/** Runs a pipeline to completion on the store in `storeDir` and returns its record: one per executor. */
type RunPipeline = (pipeline: Flywheel.PipelineDefinition, changed: number, storeDir: string) => Promise<Flywheel.RunRecord>;

interface Timing {
  wall: number[];
  engine: number[];
}

interface Measured {
  first: Timing;
  cached: Timing;
  changed: Timing;
  /** What the last one-changed run's `shout` step reported, as a check that it did what is measured. */
  check: string;
}

/** First runs on fresh stores, then cached and one-changed re-runs; throws when a run did not do what is timed. */
async function measure(label: string, pipeline: Flywheel.PipelineDefinition, run: RunPipeline, dir: string): Promise<Measured> {
  const timing = (): Timing => ({ wall: [], engine: [] });
  const result: Measured = { first: timing(), cached: timing(), changed: timing(), check: '' };
  const timed = async (into: Timing, changed: number, storeDir: string): Promise<Flywheel.RunRecord> => {
    const { ms, result: record } = await timeAsync(() => run(pipeline, changed, storeDir));
    if (record.status !== 'succeeded') throw new Error(`${label}: run ${record.runId} ${record.status}`);
    into.wall.push(ms);
    into.engine.push(record.durationMs ?? Number.NaN);
    return record;
  };
  const shoutOf = (record: Flywheel.RunRecord): Flywheel.StepRunRecord => record.steps.find((s) => s.id === 'shout') as Flywheel.StepRunRecord;
  for (let i = 0; i < FIRST_SAMPLES; i++) await timed(result.first, -1, join(dir, `store-${i}`));
  const store = join(dir, 'store-0');
  for (let i = 0; i < SAMPLES; i++) {
    const record = await timed(result.cached, -1, store);
    if (shoutOf(record).status !== 'cached') throw new Error(`${label}: the re-run was not fully cached (${shoutOf(record).reason})`);
  }
  for (let i = 0; i < SAMPLES; i++) {
    // Element 1000·i changes: a new value each time, so each sample really runs it.
    const record = await timed(result.changed, 1000 * i + 7, store);
    const step = shoutOf(record);
    const elements = step.elements;
    if (elements !== undefined && (elements.executed !== 1 || elements.cached !== ELEMENTS - 1))
      throw new Error(`${label}: expected 1 element executed and ${ELEMENTS - 1} cached, got ${JSON.stringify(elements)}`);
    result.check = elements === undefined ? `${step.status}: ${step.reason}` : `${elements.executed} executed, ${elements.cached} cached`;
  }
  return result;
}

function report(name: string, t: Timing): void {
  line(`${name}: wall`, `${formatMs(median(t.wall))}  ${formatSamples(t.wall)}`);
  line(`${name}: engine (record durationMs)`, `${formatMs(median(t.engine))}  ${formatSamples(t.engine)}`);
}

/** One executor's figures against the plain-step baseline (same executor, same store layout). */
async function benchExecutor(executor: string, run: RunPipeline): Promise<SummaryRow[]> {
  const { map, plain } = await pipelines();
  const dir = await freshDir('map', executor);
  heading(`${BENCH}, ${executor} executor: baseline, one plain step doing the same ${ELEMENTS.toLocaleString('en')} operations`);
  const base = await measure(`${executor} baseline`, plain, run, join(dir, 'plain'));
  report('first run', base.first);
  report('fully cached re-run', base.cached);
  report('one element changed (the step re-runs)', base.changed);

  heading(`${BENCH}, ${executor} executor: p.map, one cache entry per element`);
  const mapped = await measure(`${executor} map`, map, run, join(dir, 'map'));
  report('first run', mapped.first);
  report('fully cached re-run', mapped.cached);
  report('one element changed', mapped.changed);
  line('  check: the one-changed run', mapped.check);

  const rows: SummaryRow[] = [];
  const compare = (metric: string, ours: Timing, theirs: Timing, target?: string): void => {
    const value = median(ours.engine);
    const baseline = median(theirs.engine);
    line(`${metric}: map / plain step (engine)`, `${formatMs(value)} / ${formatMs(baseline)} = ${formatRatio(value / baseline)}`);
    rows.push({
      bench: BENCH,
      metric: `${executor}: ${metric} (engine; wall ${formatMs(median(ours.wall))})`,
      value: formatMs(value),
      baseline: formatMs(baseline),
      ratio: value / baseline,
      ...(target === undefined ? {} : { target }),
    });
  };
  heading(`${BENCH}, ${executor} executor: result`);
  compare('first run', mapped.first, base.first);
  compare('fully cached re-run', mapped.cached, base.cached);
  compare('one element changed', mapped.changed, base.changed, executor === 'temporal' ? '< 10 s' : undefined);
  const cachedMs = median(mapped.cached.engine);
  line(`fully cached map re-run vs the ${formatMs(CACHED_TARGET_MS)} target`, `${formatMs(cachedMs)} (${cachedMs < CACHED_TARGET_MS ? 'met' : 'MISSED'})`);
  rows.push({
    bench: BENCH,
    metric: `${executor}: fully cached re-run vs target (engine)`,
    value: formatMs(cachedMs),
    baseline: formatMs(CACHED_TARGET_MS),
    ratio: cachedMs / CACHED_TARGET_MS,
    target: `< ${formatMs(CACHED_TARGET_MS)}`,
  });
  return rows;
}

export async function benchMap(): Promise<SummaryRow[]> {
  const api = await importDist<Api>('index.js');
  const logger = api.createLogger({ level: 'warn' });
  // The local executor at its default concurrency, as `flywheel run` runs it.
  const local: RunPipeline = (pipeline, changed, storeDir) =>
    api.runLocal(api.validatePipeline(pipeline, { source: { n: ELEMENTS, changed } }), { store: api.openStore(storeDir), logger });
  const rows = await benchExecutor('local', local);

  // Temporal: `flywheel run --engine temporal` against a dev server and a cpu worker started here;
  // the record comes from the store the run used.
  const suite = await startTemporalSuite('bench-map-', ['cpu'], () => ({ FLYWHEEL_LOG_LEVEL: 'warn' }));
  const { env, folder: work } = suite;
  try {
    const onTemporal: RunPipeline = async (pipeline, changed, storeDir) => {
      const file = fileURLToPath(pipeline.name === 'bench-map' ? PIPELINES.map : PIPELINES.plain);
      const args = [FLYWHEEL_BIN, 'run', file, '--engine', 'temporal', '--json', '--set', `source.n=${ELEMENTS}`, '--set', `source.changed=${changed}`];
      const result = await runProcess(process.execPath, args, { cwd: work, env: { ...process.env, ...env, FLYWHEEL_STORE: storeDir } });
      const { runId } = JSON.parse(result.stdout) as { runId: string };
      const record = await api.openStore(storeDir).getRun(runId);
      if (record === undefined) throw new Error(`no record of Temporal run ${runId} in ${storeDir}`);
      return record;
    };
    rows.push(...(await benchExecutor('temporal', onTemporal)));
  } finally {
    await suite.stop();
  }
  return rows;
}

runIfMain(import.meta.url, benchMap);
