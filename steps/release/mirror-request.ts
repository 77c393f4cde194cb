import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, file, FlywheelError, json, sha256Bytes } from 'flywheel';
import { JudgeTrust, untrustedReason } from '../judge/judge-trust.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from '../judge/judge-runner.js';
import { mirroredOutcome } from '../judge/pairwise-judge.js';
import { SeededRandom } from '../stats/seeded-random.js';
import { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { ModelRegistry, registryLocation, type ModelVersion } from './model-registry.js';
import { llmApiKey } from '../flow-agent/openai-endpoint.js';
import { predictWorkflow, RetrievalModel } from '../flow-agent/retrieval-model.js';
import { SliceTags } from '../flow-agent/score-workflow.js';
import { ServedModelRef } from '../flow-agent/serve-adapter.js';
import { ServedWorkflowModel } from '../flow-agent/served-model.js';

/** One recorded production request (data/flow-agent/traffic.jsonl). */
export const TrafficRecord = z.object({ id: z.string(), at: z.string(), request: z.string(), base: FlowWorkflow.optional(), slices: SliceTags });
export type TrafficRecord = z.infer<typeof TrafficRecord>;

export const NOTHING_TO_COMPARE = 'nothing to compare: no production model other than the candidate';

/**
 * The share of sampled requests that must get a judged outcome, else the run fails. Mirroring used to
 * count unjudged requests and go on; now each is an element that failed: not cached, counted as
 * unjudged, and asked again alone by the next run.
 */
export const MIRROR_MIN_SUCCESS_RATIO = 0.8;

export async function productionVersion(registry: ModelRegistry): Promise<ModelVersion | undefined> {
  const state = await registry.read();
  return state.versions.find((v) => v.version === state.aliases.production);
}

/** The candidate's identity: the served adapter's, or the local model file's digest. */
export async function candidateOf(inputs: {
  model?: string | undefined;
  served?: ServedModelRef | undefined;
}): Promise<{ id: string; digest: string | undefined; bytes: Buffer | undefined }> {
  const bytes = inputs.model === undefined ? undefined : await readFile(inputs.model);
  const digest = inputs.served?.adapterDigest ?? (bytes === undefined ? undefined : sha256Bytes(bytes));
  if (inputs.served !== undefined) return { id: inputs.served.model, digest, bytes };
  if (bytes !== undefined) return { id: 'candidate (local model)', digest, bytes };
  throw new FlywheelError('MODEL_MISSING', 'flow-mirror needs the candidate: its model (local) or served (production) input', {
    retryable: false,
    fix: 'wire train.model or serve.served to mirror',
  });
}

/**
 * Which model is in production is outside state: a promotion or rollback re-runs the comparison. No
 * production model and the candidate itself in production are the same case: nothing to compare.
 */
export async function productionState(config: { registry?: string | undefined }, inputs: { model?: string | undefined }): Promise<string> {
  const production = await productionVersion(new ModelRegistry(registryLocation(config.registry)));
  return production === undefined || production.modelDigest === inputs.model ? NOTHING_TO_COMPARE : `production:${production.modelDigest}`;
}

/** The sample of recorded requests that mirroring replays: seeded, so the same log gives the same sample. */
export const mirrorSample = defineStep({
  id: 'flow-mirror-sample',
  version: 1,
  description: 'Sample the recorded production requests that mirroring replays',
  config: z.object({ sample: z.number().int().min(1).default(100), seed: z.number().int().default(1) }),
  inputs: { traffic: file() },
  outputs: { requests: file({ fileName: 'sample.jsonl' }) },
  async run({ config, inputs, outputs }) {
    const traffic = (await readFile(inputs.traffic, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as unknown);
    const rng = new SeededRandom(config.seed);
    const sample = traffic
      .map((r) => ({ r, order: rng.next() }))
      .sort((a, b) => a.order - b.order)
      .slice(0, config.sample)
      .map((x) => x.r);
    await writeFile(outputs.requests, sample.map((r) => `${JSON.stringify(r)}\n`).join(''));
  },
});

/** One mirrored request: the outcome for the candidate, and production's workflow (the feedback if it lost). */
export const MirroredRequest = z.object({
  id: z.string(),
  /** null when nothing was compared (an untrusted judge, or no production model other than the candidate). */
  outcome: z.enum(['win', 'tie', 'loss']).nullable(),
  slices: SliceTags,
  request: z.string(),
  base: FlowWorkflow.optional(),
  production: FlowWorkflow.nullable(),
  judge: z.string(),
});
export type MirroredRequest = z.infer<typeof MirroredRequest>;

const { concurrency: _concurrency, ...ENDPOINT_CONFIG } = JUDGE_ENDPOINT_CONFIG;

type Predict = (record: TrafficRecord) => Promise<FlowWorkflow | null>;

/**
 * Mirroring of one recorded request, mapped over the sample (`p.map`, one element and one cache entry
 * per request): the production model and the candidate answer it, and the judge compares the two blind,
 * in both orders. An untrusted judge, or no production model to compare with, asks nothing. A judgement
 * that never came throws: the element is not cached, and the next run asks again for this request alone.
 * The pair judge's LLM memo stays: the trust input and the registry state are in every element's key,
 * and a new trust decision with the same spec re-runs the elements without changing one verdict.
 */
export const mirrorRequest = defineStep({
  id: 'flow-mirror-request',
  version: 1,
  description: 'Replay one recorded production request through production and candidate, judged blind in both orders',
  config: z.object({
    ...ENDPOINT_CONFIG,
    registry: z.string().optional(),
    maxTurns: z.number().int().min(1).max(100).default(24),
  }),
  inputs: { request: json(TrafficRecord), trust: json(JudgeTrust), model: file({ optional: true }), served: json(ServedModelRef, { optional: true }) },
  outputs: { outcome: json(MirroredRequest) },
  env: ['OPENAI_BASE_URL'],
  external: productionState,
  async run({ config, inputs, span, usage }): Promise<{ outcome: MirroredRequest }> {
    const record = inputs.request;
    const registry = new ModelRegistry(registryLocation(config.registry));
    const found = await productionVersion(registry);
    const candidate = await candidateOf(inputs);
    const current = found?.modelDigest === candidate.digest ? undefined : found;
    const judge = inputs.trust.judge;
    const skipped = (id: string): { outcome: MirroredRequest } => ({
      outcome: {
        id: record.id,
        outcome: null,
        slices: record.slices,
        request: record.request,
        ...(record.base === undefined ? {} : { base: record.base }),
        production: null,
        judge: id,
      },
    });
    if (untrustedReason(inputs.trust) !== null || current === undefined) return skipped(judge.judge);
    const runner = judgeRunner(judge.spec.model, { ...config, concurrency: 1 }, "mirror-each (the calibrated spec's model)", { span, usage });
    let predictCandidate: Predict;
    let predictProduction: Predict;
    if (inputs.served !== undefined) {
      const served = (model: string): Predict => {
        const endpoint = new ServedWorkflowModel({
          baseURL: inputs.served?.baseUrl,
          model,
          apiKey: llmApiKey('flow-mirror'),
          maxTurns: config.maxTurns,
          maxRetries: config.maxRetries,
          timeoutMs: config.timeoutMs,
          step: { span, usage },
        });
        return async (r) => endpoint.predict(r.request, r.base).catch(() => null);
      };
      predictCandidate = served(inputs.served.model);
      // Served adapters are named by their bytes, and the registry's digest of a folder is the same one.
      predictProduction = served(`${inputs.served.model.replace(/-[0-9a-f]{12}$/, '')}-${current.modelDigest.slice(0, 12)}`);
    } else {
      const local = (bytes: Buffer): Predict => {
        const model = RetrievalModel.parse(JSON.parse(bytes.toString('utf8')));
        return (r: TrafficRecord) => Promise.resolve(predictWorkflow(model, r.request) ?? null);
      };
      predictCandidate = local(candidate.bytes as Buffer);
      predictProduction = local(await readFile(join(registry.root, current.path)));
    }
    const [production, answer] = await Promise.all([predictProduction(record), predictCandidate(record)]);
    const outcome = await mirroredOutcome(runner.comparePair, judge.spec, record.request, production, answer);
    if (outcome === null) {
      throw new FlywheelError('MIRROR_VERDICT_MALFORMED', `request ${record.id}: the judge gave no valid verdict on the pair`, {
        retryable: false,
        fix: "check the judge's endpoint and model; the next run asks again for this request only",
      });
    }
    return {
      outcome: { ...skipped(runner.id).outcome, outcome, production },
    };
  },
});
