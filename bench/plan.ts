// (c) Planning a 10,000-step DAG in-process: validatePipeline + planPipeline against an empty store and
// against a fully cached one. `flywheel plan` and every `run` pay this before any work starts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type * as Flywheel from '../index.js';
import { formatMs, formatSamples, freshDir, heading, importDist, line, median, repeat, runIfMain, timeAsync, timeWithGc, type SummaryRow } from './lib.js';

const CHAINS = 100;
const CHAIN_LENGTH = 100;
const STEPS = CHAINS * CHAIN_LENGTH;
const SAMPLES = 3;
const TARGET_MS = 1000;

function buildPipeline(api: typeof Flywheel): Flywheel.PipelineDefinition {
  const { defineStep, definePipeline, file } = api;
  const Position = z.object({ chain: z.number().int(), index: z.number().int() });
  const seed = defineStep({
    id: 'plan-seed',
    version: 1,
    config: Position,
    outputs: { out: file({ fileName: 'out.txt' }) },
    async run({ config, outputs }) {
      await writeFile(outputs.out, `chain ${config.chain} step ${config.index}\n`);
    },
  });
  const link = defineStep({
    id: 'plan-link',
    version: 1,
    config: Position,
    inputs: { prev: file() },
    outputs: { out: file({ fileName: 'out.txt' }) },
    async run({ config, inputs, outputs }) {
      const previous = await readFile(inputs.prev, 'utf8');
      await writeFile(outputs.out, `chain ${config.chain} step ${config.index} after ${previous.length} bytes\n`);
    },
  });
  return definePipeline({
    name: `bench-plan-${STEPS}`,
    build(p) {
      for (let chain = 0; chain < CHAINS; chain++) {
        let prev = p.add(seed, { id: `c${chain}-s0`, config: { chain, index: 0 } }).out.out;
        for (let index = 1; index < CHAIN_LENGTH; index++)
          prev = p.add(link, { id: `c${chain}-s${index}`, config: { chain, index }, inputs: { prev } }).out.out;
      }
    },
  });
}

/** Times validate and plan separately, SAMPLES times, against one store; plan samples also report GC pauses. */
async function timePlanning(
  api: typeof Flywheel,
  definition: Flywheel.PipelineDefinition,
  store: Flywheel.Store,
  label: string,
): Promise<{ total: number; plan: Flywheel.Plan }> {
  const validate = await repeat(SAMPLES, async () => api.validatePipeline(definition));
  const gcMs: number[] = [];
  const plan = await repeat(SAMPLES, async () => {
    const timed = await timeWithGc(() => api.planPipeline(validate.last, store));
    gcMs.push(timed.gcMs);
    return timed.result;
  });
  const totals = validate.ms.map((ms, i) => ms + (plan.ms[i] as number));
  const counts = new Map<string, number>();
  for (const step of plan.last.steps) counts.set(step.decision, (counts.get(step.decision) ?? 0) + 1);
  const decisions = [...counts].map(([d, n]) => `${n} ${d}`).join(', ');
  line(`${label}: validatePipeline, median`, `${formatMs(median(validate.ms))}  ${formatSamples(validate.ms)}`);
  line(`${label}: planPipeline, median`, `${formatMs(median(plan.ms))}  ${formatSamples(plan.ms)}  (${decisions}; GC ${formatMs(median(gcMs))})`);
  line(`${label}: validate + plan, median`, `${formatMs(median(totals))}  (target < ${formatMs(TARGET_MS)})`);
  return { total: median(totals), plan: plan.last };
}

/**
 * What one cached look-up costs, part by part, each done for every step in sequence as planPipeline
 * does, next to a floor: the same bytes read synchronously. Paths follow LocalStore's documented layout.
 */
async function lookUpBreakdown(store: Flywheel.Store, root: string, plan: Flywheel.Plan): Promise<void> {
  const { lastFinishedRun } = await importDist<{ lastFinishedRun: (store: Flywheel.Store, pipeline: string) => Promise<unknown> }>(
    'engine/records/run-history.js',
  );
  const keys = plan.steps.flatMap((s) => (s.cacheKey === undefined ? [] : [s.cacheKey]));
  const perStep = (ms: number): string => `${formatMs(ms)}  (${((ms * 1000) / keys.length).toFixed(0)} µs/step)`;
  console.log(`  a cached look-up, part by part, for all ${keys.length} steps in sequence:`);
  const previous = await timeAsync(() => lastFinishedRun(store, plan.pipeline));
  line('    lastFinishedRun (read + parse newest run record)', formatMs(previous.ms));
  const entries = await timeWithGc(async () => {
    const found: Flywheel.ActionEntry[] = [];
    for (const key of keys) {
      const entry = await store.getAction(key);
      if (entry !== undefined && entry !== 'unreadable') found.push(entry);
    }
    return found;
  });
  line('    store.getAction (read + JSON.parse + zod)', `${perStep(entries.ms)}  GC ${formatMs(entries.gcMs)}`);
  const outputs = entries.result.flatMap((e) => Object.values(e.outputs));
  const blobs = await timeWithGc(async () => {
    for (const o of outputs) await store.checkBlob(o.digest, 'hit', o.size);
  });
  line('    store.checkBlob hit (stat + sha256File)', `${perStep(blobs.ms)}  GC ${formatMs(blobs.gcMs)}`);
  const floor = await timeAsync(async () => {
    for (const key of keys) JSON.parse(readFileSync(join(root, 'ac', key.slice(0, 2), `${key}.json`), 'utf8'));
    for (const o of outputs)
      createHash('sha256')
        .update(readFileSync(join(root, 'cas', 'sha256', o.digest.slice(0, 2), o.digest)))
        .digest('hex');
  });
  line('    floor: same files via readFileSync + parse/hash', perStep(floor.ms));
}

export async function benchPlan(): Promise<SummaryRow[]> {
  heading(`(c) planning a ${STEPS}-step DAG (${CHAINS} chains × ${CHAIN_LENGTH}), in-process`);
  const api = await importDist<typeof Flywheel>('index.js');
  const dir = await freshDir('plan');

  const built = await timeAsync(async () => buildPipeline(api));
  line('definePipeline (build the DAG)', formatMs(built.ms));
  const definition = built.result;

  const empty = await timePlanning(api, definition, api.openStore(join(dir, 'empty-store')), 'empty store');

  const root = join(dir, 'store');
  const store = api.openStore(root);
  const logger = api.createLogger({ level: 'warn' });
  const fill = await timeAsync(() => api.runLocal(api.validatePipeline(definition), { store, logger }));
  const executed = fill.result.steps.filter((s) => s.status === 'executed').length;
  line('fill the store: runLocal, every step executes', `${formatMs(fill.ms)}  (${executed} executed, ${((fill.ms * 1000) / STEPS).toFixed(0)} µs/step)`);
  const cached = await timePlanning(api, definition, store, 'fully cached');
  await lookUpBreakdown(store, root, cached.plan);

  const rerun = await timeWithGc(() => api.runLocal(api.validatePipeline(definition), { store, logger }));
  const hits = rerun.result.steps.filter((s) => s.status === 'cached').length;
  line('context: runLocal again, all cached', `${formatMs(rerun.ms)}  (${hits}/${STEPS} cached; GC ${formatMs(rerun.gcMs)})`);

  const target = `< ${formatMs(TARGET_MS)}`;
  return [
    {
      bench: '(c) plan 10k steps',
      metric: 'validate + plan, empty store',
      value: formatMs(empty.total),
      ratio: empty.total / TARGET_MS,
      baseline: formatMs(TARGET_MS),
      target,
    },
    {
      bench: '(c) plan 10k steps',
      metric: 'validate + plan, fully cached',
      value: formatMs(cached.total),
      ratio: cached.total / TARGET_MS,
      baseline: formatMs(TARGET_MS),
      target,
    },
    { bench: '(c) plan 10k steps', metric: 'runLocal fill (all execute)', value: formatMs(fill.ms) },
  ];
}

runIfMain(import.meta.url, benchPlan);
