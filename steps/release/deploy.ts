import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json, fileState } from 'flywheel';
import { ModelRegistry, registryLocation } from './model-registry.js';
import { ProvenanceSummary, provenanceSummary, writeProvenance } from './provenance.js';
import { JudgeTrust, untrustedError } from '../judge/judge-trust.js';
import { JudgedBenchmark } from '../judge/judge-predictions.js';
import { EvaluationMetrics } from '../flow-agent/evaluate.js';
import { MirrorResult } from './mirror.js';
import { decideGate } from '../flow-agent/gate.js';
import { SliceVerdict } from '../flow-agent/slice-gate.js';
import { readItemScores, readPredictionScores, writeItemScores } from './item-scores.js';
import { writeDecisionReport } from './decision-report.js';
import { METRICS } from '../flow-agent/score-workflow.js';

export const DeployDecision = z.object({
  version: z.number().int(),
  newVersion: z.boolean(),
  promoted: z.boolean(),
  production: z.number().int().nullable(),
  reasons: z.array(z.string()),
  /** Each slice against production: n, change, interval, p and whether it blocks (absent without a production model). */
  slices: z.array(SliceVerdict).optional(),
});
export type DeployDecision = z.infer<typeof DeployDecision>;

/**
 * Registers the candidate with its lineage (run, data digest, config, metrics), points `candidate` at
 * it, and moves `production` to it only when the gate passes, unless that version was rolled back by
 * hand. Registering the same model bytes again reuses their version.
 */
export const deploy = defineStep({
  id: 'flow-deploy',
  version: 4,
  description: 'Register the candidate model and promote it if the gate passes',
  config: z.object({
    /** Registry directory; default FLYWHEEL_REGISTRY, else .flywheel/registry. */
    registry: z.string().optional(),
    metric: z.enum(METRICS).default('actionF1'),
    minScore: z.number().min(0).max(1).default(0.3),
    /** A slice blocks only when significantly worse than production by more than this (0.02: two points)… */
    maxSliceRegression: z.number().min(0).max(1).default(0.02),
    /** …one-sided at this family-wise error rate, Holm-adjusted across the slices tested (docs/judge.md has the measured rates)… */
    sliceAlpha: z.number().gt(0).lt(1).default(0.05),
    /** …and only with at least this many items: smaller slices are reported, never blocking alone. */
    minSliceSize: z.number().int().min(2).default(10),
  }),
  /** `model`: a model file (the local stand-in); `adapter`: the fine-tuned adapter folder (production). */
  /** `trust`: the judge-trust decision; wired, an untrusted or drifting judge stops deploy before it registers anything. */
  inputs: {
    model: file({ optional: true }),
    adapter: dir({ optional: true }),
    metrics: json(EvaluationMetrics),
    /** evaluate's per-example scores: kept with the version, and paired with production's by the slice gate. */
    predictions: file({ optional: true }),
    train: file(),
    judged: json(JudgedBenchmark, { optional: true }),
    trust: json(JudgeTrust, { optional: true }),
    mirror: json(MirrorResult, { optional: true }),
  },
  /** report: the decision and every slice against production (n, change, interval, p, verdict): `flywheel output deploy.report`. */
  outputs: { decision: json(DeployDecision), provenance: json(ProvenanceSummary), report: dir() },
  // Acts on live state: the registry's state is in the key, so a promotion or rollback by hand (or by
  // another run) makes deploy judge again; the state deploy itself leaves is a hit (convergent).
  external: async (config) => ({ registry: await fileState(join(registryLocation(config.registry), 'registry.json')) }),
  convergent: true,
  // Its lineage (every step upstream, with keys and code) becomes each new version's signed provenance.
  lineage: true,
  async run({ config, inputs, outputs, runId, log, lineage, decline }) {
    // Nothing an untrusted judge said may promote a model: refuse before the registry changes at all.
    if (inputs.trust !== undefined && !inputs.trust.trusted) throw untrustedError(inputs.trust, 'deploy refused');
    const refused = inputs.judged?.refused ?? inputs.mirror?.refused ?? null;
    if (refused !== null) throw new FlywheelError('JUDGE_UNTRUSTED', `deploy refused: ${refused}`, { retryable: false, fix: 'see the judge-trust report' });
    const registry = new ModelRegistry(registryLocation(config.registry));
    const dataDigest = createHash('sha256')
      .update(await readFile(inputs.train))
      .digest('hex');
    const model = inputs.adapter ?? inputs.model;
    if (model === undefined || (inputs.adapter !== undefined && inputs.model !== undefined)) {
      throw new FlywheelError('MODEL_MISSING', 'flow-deploy needs exactly one of its model (file) and adapter (folder) inputs', {
        retryable: false,
        fix: 'wire train.model (local profile) or fine-tune.adapter (production profile) to deploy',
      });
    }
    const judge =
      inputs.judged === undefined
        ? undefined
        : {
            judge: inputs.judged.judge,
            specDigest: inputs.judged.specDigest,
            heldOutKappa: inputs.judged.heldOutKappa,
            good: inputs.judged.overall.good,
            goodCi: inputs.judged.overall.goodCi,
            ...(inputs.trust === undefined ? {} : { lowerBound: inputs.trust.gate.lowerBound, golden: inputs.trust.drift.status }),
          };
    const { version, created } = await registry.register(model, {
      runId,
      dataDigest,
      config: { ...config },
      metrics: { ...inputs.metrics, ...(judge === undefined ? {} : { judge }) },
    });
    // Provenance for a version this run registered (the engine gives deploy its lineage: it asks for it).
    if (created && lineage !== undefined)
      await writeProvenance(registry, { version, folder: inputs.adapter !== undefined, lineage, finishedOn: new Date().toISOString() });
    const items = inputs.predictions === undefined ? undefined : await readPredictionScores(inputs.predictions);
    if (items !== undefined && (await readItemScores(registry, version.version)) === undefined) await writeItemScores(registry, version.version, items);
    await registry.setAlias('candidate', version.version, `evaluated by run ${runId}`);
    // The run view's deploy panel shows the version's provenance (this run's, or the one written when it was first registered).
    const provenance = await provenanceSummary(registry, version.version);
    const { decision, keptOutBecause } = await decidePromotion();
    await writeDecisionReport(outputs.report, decision, config);
    // Kept out of production is a decision, not a success: the run, show, runs, the DAG and compare say so.
    if (keptOutBecause !== undefined) decline(`v${decision.version} kept out of production: ${keptOutBecause}`);
    log.info(
      { version: decision.version, promoted: decision.promoted, reasons: decision.reasons },
      decision.promoted ? 'promoted to production' : 'kept out of production',
    );
    return { decision, provenance };

    /** The decision, and why the candidate was kept out of production (undefined when promoted or already there). */
    async function decidePromotion(): Promise<{ decision: DeployDecision; keptOutBecause?: string }> {
      const state = await registry.read();
      const current = state.versions.find((v) => v.version === state.aliases.production);
      const kept = { version: version.version, newVersion: created, promoted: false };
      if (current?.version === version.version) return { decision: { ...kept, production: version.version, reasons: ['already in production'] } };
      if (state.history.some((h) => h.rolledBackFrom === version.version)) {
        const reason = `v${version.version} was rolled back by hand; promote it explicitly (flywheel model promote ${version.version})`;
        return { decision: { ...kept, production: current?.version ?? null, reasons: [reason] }, keptOutBecause: 'rolled back by hand' };
      }
      const production =
        current === undefined ? undefined : { metrics: EvaluationMetrics.parse(current.metrics), items: await readItemScores(registry, current.version) };
      const benchmarkGate = decideGate({ metrics: inputs.metrics, items }, production, config);
      // Mirrored production traffic must agree: a refusal there keeps the candidate out whatever the benchmark says.
      const mirrored = inputs.mirror === undefined || inputs.mirror.skipped !== null ? undefined : inputs.mirror;
      const promote = benchmarkGate.promote && (mirrored?.promote ?? true);
      const reasons = [...benchmarkGate.reasons, ...(mirrored === undefined ? [] : [`mirroring: ${mirrored.reasons.join('; ')}`])];
      if (promote) await registry.setAlias('production', version.version, `gate passed in run ${runId}: ${reasons.join('; ')}`);
      const decision = {
        ...kept,
        promoted: promote,
        production: promote ? version.version : (current?.version ?? null),
        reasons,
        ...(production === undefined ? {} : { slices: benchmarkGate.slices }),
      };
      // The first reason that refused: the benchmark gate's, else mirroring's.
      const refusal = benchmarkGate.promote ? reasons.find((r) => r.startsWith('mirroring:')) : benchmarkGate.reasons[0];
      return promote ? { decision } : { decision, keptOutBecause: refusal ?? 'the gate did not pass' };
    }
  },
});
