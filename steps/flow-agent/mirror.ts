import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json, sha256Bytes, writeFileWhole, fileState } from 'flywheel';
import { ModelRegistry, registryLocation, type ModelVersion } from './model-registry.js';
import { snapshotStep } from './collect.js';
import { wilsonInterval } from '../judge/agreement.js';
import { CalibratedJudge } from '../judge/calibrate-judge.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from '../judge/judge-runner.js';
import { mirroredOutcome, type MirrorOutcome } from '../judge/pairwise-judge.js';
import { toHtml, toMarkdown } from '../report-document.js';
import { SeededRandom } from '../seeded-random.js';
import type { TrafficRecord } from './fixture-data.js';
import { FlowWorkflow } from './flow-workflow.js';
import { mapBounded } from './map-bounded.js';
import { llmApiKey } from './openai-endpoint.js';
import { predictWorkflow, RetrievalModel } from './retrieval-model.js';
import { bySlice } from './score-workflow.js';
import { ServedModelRef } from './serve-adapter.js';
import { ServedWorkflowModel } from './served-model.js';

const Tally = z.object({
  n: z.number().int(),
  wins: z.number().int(),
  ties: z.number().int(),
  losses: z.number().int(),
  winRate: z.number(),
  ci: z.tuple([z.number(), z.number()]),
});
export const MirrorResult = z.object({
  /** Why nothing was mirrored (no production model yet), or null. */
  skipped: z.string().nullable(),
  production: z.string().nullable(),
  candidate: z.string(),
  judge: z.string(),
  unjudged: z.number().int(),
  overall: Tally,
  slices: z.record(z.string(), Tally),
  promote: z.boolean(),
  reasons: z.array(z.string()),
});
export type MirrorResult = z.infer<typeof MirrorResult>;

const NOTHING_TO_COMPARE = 'nothing to compare: no production model other than the candidate';

async function productionVersion(registry: ModelRegistry): Promise<ModelVersion | undefined> {
  const state = await registry.read();
  return state.versions.find((v) => v.version === state.aliases.production);
}

/** A request the candidate lost, with the workflow the judge preferred: training data for the next run. */
export const FeedbackExample = z.object({ from: z.string(), request: z.string(), base: FlowWorkflow.optional(), workflow: FlowWorkflow });
export type FeedbackExample = z.infer<typeof FeedbackExample>;

export function feedbackPath(location?: string): string {
  return join(resolve(location ?? process.env.FLYWHEEL_FEEDBACK ?? join('.flywheel', 'feedback')), 'mirror-losses.jsonl');
}

/** The recorded production traffic log (data/flow-agent/traffic.jsonl), keyed by its content. */
export const snapshotTraffic = snapshotStep('flow-snapshot-traffic', 'production traffic log', 'traffic.jsonl');

/** The feedback dataset (requests candidates lost in mirroring), keyed by its content; empty before any. */
export const snapshotFeedback = defineStep({
  id: 'flow-snapshot-feedback',
  version: 1,
  description: 'Copy the mirroring feedback dataset (requests lost to production) into the store',
  config: z.object({ location: z.string().optional() }),
  outputs: { data: file({ fileName: 'feedback.jsonl' }) },
  external: (config) => fileState(feedbackPath(config.location)),
  async run({ config, outputs }) {
    await writeFile(outputs.data, await readFile(feedbackPath(config.location)).catch(() => Buffer.from('')));
  },
});

/** Wins, ties and losses with the win rate (a tie counts half) and its Wilson interval. */
export function mirrorTally(outcomes: readonly MirrorOutcome[]): z.infer<typeof Tally> {
  const count = (o: MirrorOutcome): number => outcomes.filter((x) => x === o).length;
  const [wins, ties, losses] = [count('win'), count('tie'), count('loss')];
  const n = outcomes.length;
  // A tie is half a win: equal models score 0.5, and only a clear improvement lifts the lower bound past it.
  return { n, wins, ties, losses, winRate: n === 0 ? 0 : (wins + ties / 2) / n, ci: wilsonInterval(wins + ties / 2, n) };
}

type Predict = (record: TrafficRecord) => Promise<FlowWorkflow | null>;

/**
 * Production mirroring: replays a sample of recorded production requests through the production
 * model (the registry's `production` alias) and the candidate, judges each pair blind with positions
 * swapped, and reports win/tie/loss with Wilson intervals overall and per slice. It approves promotion
 * only if the win rate's lower bound clears `minWinRateLowerBound` and no slice's upper bound falls
 * below 0.5 (a slice where the candidate is worse). Requests the candidate lost, with production's
 * workflow, join the feedback dataset that the next run's synthesize turns into training examples.
 */
export const mirror = defineStep({
  id: 'flow-mirror',
  version: 1,
  description: 'Replay recorded production traffic through production and candidate, judged blind in both orders',
  config: z.object({
    ...JUDGE_ENDPOINT_CONFIG,
    sample: z.number().int().min(1).default(100),
    seed: z.number().int().default(1),
    minWinRateLowerBound: z.number().min(0).max(1).default(0.5),
    registry: z.string().optional(),
    /** Feedback folder; default FLYWHEEL_FEEDBACK, else .flywheel/feedback. */
    feedback: z.string().optional(),
    maxTurns: z.number().int().min(1).max(100).default(24),
  }),
  inputs: { traffic: file(), judge: json(CalibratedJudge), model: file({ optional: true }), served: json(ServedModelRef, { optional: true }) },
  outputs: { mirror: json(MirrorResult), losses: file({ fileName: 'losses.jsonl' }), report: dir() },
  env: ['OPENAI_BASE_URL'],
  // Which model is in production is outside state: a promotion or rollback re-runs the comparison.
  // No production model and the candidate itself in production are the same case: nothing to compare.
  external: async (config, inputs) => {
    const production = await productionVersion(new ModelRegistry(registryLocation(config.registry)));
    return production === undefined || production.modelDigest === inputs.model ? NOTHING_TO_COMPARE : `production:${production.modelDigest}`;
  },
  async run({ config, inputs, outputs, log }) {
    const registry = new ModelRegistry(registryLocation(config.registry));
    const found = await productionVersion(registry);
    const candidateBytes = inputs.model === undefined ? undefined : await readFile(inputs.model);
    const candidateDigest = inputs.served?.adapterDigest ?? (candidateBytes === undefined ? undefined : sha256Bytes(candidateBytes));
    const current = found?.modelDigest === candidateDigest ? undefined : found;
    const runner = judgeRunner(inputs.judge.spec.model, config, "flow-mirror (the calibrated spec's model)");
    let candidateId: string;
    let predictCandidate: Predict;
    let predictProduction: Predict | undefined;
    if (inputs.served !== undefined) {
      const served = (model: string): Predict => {
        const endpoint = new ServedWorkflowModel({
          baseURL: inputs.served?.baseUrl,
          model,
          apiKey: llmApiKey('flow-mirror'),
          maxTurns: config.maxTurns,
          maxRetries: config.maxRetries,
          timeoutMs: config.timeoutMs,
        });
        return async (r) => endpoint.predict(r.request, r.base).catch(() => null);
      };
      candidateId = inputs.served.model;
      predictCandidate = served(inputs.served.model);
      // Served adapters are named by their bytes, and the registry's digest of a folder is the same one.
      if (current !== undefined) predictProduction = served(`${inputs.served.model.replace(/-[0-9a-f]{12}$/, '')}-${current.modelDigest.slice(0, 12)}`);
    } else if (candidateBytes !== undefined) {
      const local = (bytes: Buffer): Predict => {
        const model = RetrievalModel.parse(JSON.parse(bytes.toString('utf8')));
        return (r: TrafficRecord) => Promise.resolve(predictWorkflow(model, r.request) ?? null);
      };
      candidateId = 'candidate (local model)';
      predictCandidate = local(candidateBytes);
      if (current !== undefined) predictProduction = local(await readFile(join(registry.root, current.path)));
    } else {
      throw new FlywheelError('MODEL_MISSING', 'flow-mirror needs the candidate: its model (local) or served (production) input', {
        retryable: false,
        fix: 'wire train.model or serve.served to mirror',
      });
    }

    const traffic = (await readFile(inputs.traffic, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as TrafficRecord);
    const empty = mirrorTally([]);
    if (predictProduction === undefined || current === undefined) {
      await writeFile(outputs.losses, '');
      await mkdir(outputs.report, { recursive: true });
      const reason = NOTHING_TO_COMPARE;
      await writeFile(
        join(outputs.report, 'report.md'),
        toMarkdown([
          { kind: 'heading', level: 1, text: 'Production mirroring' },
          { kind: 'paragraph', text: reason },
        ]),
      );
      await writeFile(join(outputs.report, 'report.html'), toHtml('Production mirroring', [{ kind: 'paragraph', text: reason }]));
      return {
        mirror: {
          skipped: reason,
          production: null,
          candidate: candidateId,
          judge: runner.id,
          unjudged: 0,
          overall: empty,
          slices: {},
          promote: true,
          reasons: [reason],
        },
      };
    }
    const rng = new SeededRandom(config.seed);
    const sample = [...traffic]
      .map((r) => ({ r, order: rng.next() }))
      .sort((a, b) => a.order - b.order)
      .slice(0, config.sample)
      .map((x) => x.r);
    const productionId = `v${current.version}`;
    const compared = await mapBounded(sample, config.concurrency, async (record) => {
      const [production, candidate] = await Promise.all([predictProduction(record), predictCandidate(record)]);
      return { record, production, outcome: await mirroredOutcome(runner.comparePair, inputs.judge.spec, record.request, production, candidate) };
    });
    const judged = compared.filter((c): c is typeof c & { outcome: MirrorOutcome } => c.outcome !== null);
    const overall = mirrorTally(judged.map((c) => c.outcome));
    const slices = bySlice(
      judged,
      (c) => c.record.slices,
      (group) => mirrorTally(group.map((c) => c.outcome)),
    );
    const reasons: string[] = [];
    if (overall.ci[0] < config.minWinRateLowerBound)
      reasons.push(
        `win rate ${overall.winRate.toFixed(3)} [${overall.ci[0].toFixed(3)}, ${overall.ci[1].toFixed(3)}] over ${productionId}: the lower bound is below ${config.minWinRateLowerBound}`,
      );
    for (const [name, t] of Object.entries(slices))
      if (t.n > 0 && t.ci[1] < 0.5) reasons.push(`slice ${name} regresses: win rate ${t.winRate.toFixed(3)}, upper bound ${t.ci[1].toFixed(3)} < 0.5`);
    const promote = reasons.length === 0;
    if (promote)
      reasons.push(
        `win rate ${overall.winRate.toFixed(3)} [${overall.ci[0].toFixed(3)}, ${overall.ci[1].toFixed(3)}] over ${productionId} clears ${config.minWinRateLowerBound}, no slice regresses`,
      );

    const losses = judged
      .filter((c) => c.outcome === 'loss' && c.production !== null)
      .map((c): FeedbackExample => ({
        from: c.record.id,
        request: c.record.request,
        ...(c.record.base === undefined ? {} : { base: c.record.base }),
        workflow: c.production as FlowWorkflow,
      }));
    await writeFile(outputs.losses, losses.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await addFeedback(feedbackPath(config.feedback), losses);

    const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
    const rows = [
      ['slice', 'pairs', 'wins', 'ties', 'losses', 'win rate', '95% CI'],
      ...[['overall', overall] as const, ...Object.entries(slices)].map(([name, t]) => [
        name,
        String(t.n),
        String(t.wins),
        String(t.ties),
        String(t.losses),
        pct(t.winRate),
        `[${pct(t.ci[0])}, ${pct(t.ci[1])}]`,
      ]),
    ];
    const title = `Production mirroring — ${candidateId} vs production ${productionId}`;
    const blocks = [
      { kind: 'heading' as const, level: 1 as const, text: title },
      {
        kind: 'paragraph' as const,
        text: `${sample.length} recorded requests, each judged blind twice with positions swapped by ${runner.id}${runner.offline ? ' (offline judge)' : ''}; ${compared.length - judged.length} unjudged. A tie counts half. ${promote ? 'Promotion approved' : 'Promotion refused'}: ${reasons.join('; ')}. ${losses.length} lost request(s) feed the next run's training data.`,
      },
      { kind: 'table' as const, rows },
    ];
    await mkdir(outputs.report, { recursive: true });
    await writeFile(join(outputs.report, 'report.md'), toMarkdown(blocks));
    await writeFile(join(outputs.report, 'report.html'), toHtml(title, blocks));
    log.info(
      { production: productionId, wins: overall.wins, ties: overall.ties, losses: overall.losses, promote, feedback: losses.length },
      'mirrored production traffic',
    );
    return {
      mirror: {
        skipped: null,
        production: productionId,
        candidate: candidateId,
        judge: runner.id,
        unjudged: compared.length - judged.length,
        overall,
        slices,
        promote,
        reasons,
      },
    };
  },
});

/** Merges lost requests into the feedback file (one per request, sorted), rewritten only when it changes. */
async function addFeedback(path: string, losses: readonly FeedbackExample[]): Promise<void> {
  const existing = (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => FeedbackExample.parse(JSON.parse(l)));
  const merged = new Map([...existing, ...losses].map((e) => [e.request, e]));
  const text = [...merged.values()]
    .sort((a, b) => a.from.localeCompare(b.from))
    .map((e) => `${JSON.stringify(e)}\n`)
    .join('');
  if (text === (await readFile(path, 'utf8').catch(() => ''))) return;
  await mkdir(join(path, '..'), { recursive: true });
  await writeFileWhole(path, text);
}
