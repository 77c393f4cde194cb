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
import { METRICS } from '../flow-agent/score-workflow.js';

export const DeployDecision = z.object({
  version: z.number().int(),
  newVersion: z.boolean(),
  promoted: z.boolean(),
  production: z.number().int().nullable(),
  reasons: z.array(z.string()),
});
export type DeployDecision = z.infer<typeof DeployDecision>;

/**
 * Registers the candidate with its lineage (run, data digest, config, metrics), points `candidate` at
 * it, and moves `production` to it only when the gate passes, unless that version was rolled back by
 * hand. Registering the same model bytes again reuses their version.
 */
export const deploy = defineStep({
  id: 'flow-deploy',
  version: 3,
  description: 'Register the candidate model and promote it if the gate passes',
  config: z.object({
    /** Registry directory; default FLYWHEEL_REGISTRY, else .flywheel/registry. */
    registry: z.string().optional(),
    metric: z.enum(METRICS).default('actionF1'),
    minScore: z.number().min(0).max(1).default(0.3),
    maxSliceRegression: z.number().min(0).max(1).default(0.05),
  }),
  /** `model`: a model file (the local stand-in); `adapter`: the fine-tuned adapter folder (production). */
  /** `trust`: the judge-trust decision; wired, an untrusted or drifting judge stops deploy before it registers anything. */
  inputs: {
    model: file({ optional: true }),
    adapter: dir({ optional: true }),
    metrics: json(EvaluationMetrics),
    train: file(),
    judged: json(JudgedBenchmark, { optional: true }),
    trust: json(JudgeTrust, { optional: true }),
    mirror: json(MirrorResult, { optional: true }),
  },
  outputs: { decision: json(DeployDecision), provenance: json(ProvenanceSummary) },
  // Acts on live state: the registry's state is in the key, so a promotion or rollback by hand (or by
  // another run) makes deploy judge again; the state deploy itself leaves is a hit (convergent).
  external: async (config) => ({ registry: await fileState(join(registryLocation(config.registry), 'registry.json')) }),
  convergent: true,
  // Its lineage (every step upstream, with keys and code) becomes each new version's signed provenance.
  lineage: true,
  async run({ config, inputs, runId, log, lineage }) {
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
    await registry.setAlias('candidate', version.version, `evaluated by run ${runId}`);
    // The run view's deploy panel shows the version's provenance (this run's, or the one written when it was first registered).
    const provenance = await provenanceSummary(registry, version.version);
    const state = await registry.read();
    const current = state.versions.find((v) => v.version === state.aliases.production);
    if (current?.version === version.version) {
      return {
        decision: { version: version.version, newVersion: created, promoted: false, production: version.version, reasons: ['already in production'] },
        provenance,
      };
    }
    const rolledBack = state.history.some((h) => h.rolledBackFrom === version.version);
    if (rolledBack) {
      return {
        decision: {
          version: version.version,
          newVersion: created,
          promoted: false,
          production: current?.version ?? null,
          reasons: [`v${version.version} was rolled back by hand; promote it explicitly (flywheel model promote ${version.version})`],
        },
        provenance,
      };
    }
    const benchmarkGate = decideGate(inputs.metrics, current === undefined ? undefined : EvaluationMetrics.parse(current.metrics), config);
    // Mirrored production traffic must agree: a refusal there keeps the candidate out whatever the benchmark says.
    const mirrored = inputs.mirror === undefined || inputs.mirror.skipped !== null ? undefined : inputs.mirror;
    const gate =
      mirrored === undefined
        ? benchmarkGate
        : { promote: benchmarkGate.promote && mirrored.promote, reasons: [...benchmarkGate.reasons, `mirroring: ${mirrored.reasons.join('; ')}`] };
    if (gate.promote) await registry.setAlias('production', version.version, `gate passed in run ${runId}: ${gate.reasons.join('; ')}`);
    log.info({ version: version.version, promoted: gate.promote, reasons: gate.reasons }, gate.promote ? 'promoted to production' : 'kept out of production');
    return {
      decision: {
        version: version.version,
        newVersion: created,
        promoted: gate.promote,
        production: gate.promote ? version.version : (current?.version ?? null),
        reasons: gate.reasons,
      },
      provenance,
    };
  },
});
