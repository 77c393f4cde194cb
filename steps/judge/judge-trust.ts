import { z } from 'zod';
import { defineStep, dir, FlywheelError, json } from 'flywheel';
import { type ReportBlock, writeReport } from '../report-document.js';
import { CalibratedJudge } from './calibrate-judge.js';
import { GoldenDrift } from './golden-drift.js';
import { decideTrustGate, TRUST_CONFIDENCE } from './trust-gate.js';

/** The trust decision every step that acts on the judge's verdicts takes as its input, with the judge itself. */
export const JudgeTrust = z.object({
  trusted: z.boolean(),
  /** Why not (each failed check), or what passed: one short sentence each. */
  reasons: z.array(z.string()),
  /** The calibration behind the gate: per-annotator kappas, ceiling, development part, largest disagreements. */
  details: z.string(),
  /** The error code a step that must not act reports: JUDGE_DRIFT when drift is among the causes. */
  code: z.enum(['JUDGE_UNTRUSTED', 'JUDGE_DRIFT']).nullable(),
  judge: CalibratedJudge,
  gate: z.object({
    passed: z.boolean(),
    kappa: z.number().nullable(),
    lowerBound: z.number().nullable(),
    minKappa: z.number(),
    minLowerBound: z.number(),
  }),
  drift: z.object({ checked: z.boolean(), status: z.string().nullable(), reasons: z.array(z.string()), blocks: z.boolean() }),
});
export type JudgeTrust = z.infer<typeof JudgeTrust>;

/** One sentence for a step that refuses to act: which judge, and every reason it is not trusted. */
export function untrustedReason(trust: JudgeTrust): string | null {
  if (trust.trusted) return null;
  return `judge ${trust.judge.judge} (spec ${trust.judge.specDigest.slice(0, 12)}) is not trusted: ${trust.reasons.join('; ')}`;
}

const FIX =
  'read the judge-trust, calibration and drift reports (flywheel output report.report --out report); improve the judge (calibrate-judge.maxIterations, maxFewShot, rubric) or, after a deliberate judge change, accept a new golden baseline (--set judge-drift.acceptBaseline=true); lower judge-trust.minKappa / minLowerBound only knowingly';

/** The failure a step reports when it must not act on an untrusted judge. */
export function untrustedError(trust: JudgeTrust, what: string): FlywheelError {
  return new FlywheelError(trust.code ?? 'JUDGE_UNTRUSTED', `${what}: ${untrustedReason(trust) ?? ''}`, { retryable: false, fix: FIX });
}

function gateDetails(judge: CalibratedJudge): string {
  const perHuman = judge.heldOut.kappa
    .map(
      (k, i) =>
        `annotator ${i + 1} ${k?.toFixed(3) ?? 'undefined'}${judge.heldOut.ci[i] ? ` [${judge.heldOut.ci[i]!.map((v) => v.toFixed(3)).join(', ')}]` : ''}`,
    )
    .join(', ');
  const cells =
    judge.disagreements
      .slice(0, 3)
      .map((d) => `${d.cell} (${d.items})`)
      .join(', ') || 'none';
  return `${perHuman}; human ceiling ${judge.heldOut.ceiling?.toFixed(3) ?? '–'}; development part ${judge.development.mean?.toFixed(3) ?? '–'}; largest disagreements ${cells}`;
}

/**
 * The trust decision, once, before any verdict acts: the calibrated judge must clear the gate (held-out
 * kappa ≥ `minKappa` and its one-sided 95% bootstrap lower bound ≥ `minLowerBound`) and must not have
 * drifted on the golden set. Judging the benchmark, mirroring (and with it the feedback into training
 * data) and deploy take this as their input and refuse to act when it says no; with `onUntrusted=fail`
 * this step fails instead and everything downstream is skipped.
 */
export const judgeTrust = defineStep({
  id: 'judge-trust',
  version: 1,
  description: 'Decide whether the calibrated judge may act: the kappa gate with its uncertainty, and no drift on the golden set',
  config: z.object({
    minKappa: z.number().min(-1).max(1).default(0.6),
    minLowerBound: z.number().min(-1).max(1).default(0.5),
    /** `block`: drift stops the judge's verdicts from acting; `warn`: reported only. */
    onDrift: z.enum(['block', 'warn']).default('block'),
    /** `refuse`: downstream steps run and refuse to act (the report shows why); `fail`: this step fails. */
    onUntrusted: z.enum(['refuse', 'fail']).default('refuse'),
  }),
  inputs: { judge: json(CalibratedJudge), drift: json(GoldenDrift, { optional: true }) },
  outputs: { trust: json(JudgeTrust), report: dir() },
  async run({ config, inputs, outputs, log }) {
    const judge = inputs.judge;
    const gate = decideTrustGate(judge.heldOut, config);
    const drifted = inputs.drift?.status === 'drift';
    const driftBlocks = drifted && config.onDrift === 'block';
    const reasons = [...(gate.passed ? [] : gate.reasons), ...(driftBlocks ? (inputs.drift?.reasons ?? []).map((r) => `golden-set drift: ${r}`) : [])];
    const trusted = reasons.length === 0;
    if (trusted) {
      reasons.push(...gate.reasons);
      if (inputs.drift === undefined) reasons.push('no golden-set drift check is wired');
      else reasons.push(`golden set ${inputs.drift.status}${drifted ? ' (onDrift=warn)' : ''}`);
    }
    const trust: JudgeTrust = {
      trusted,
      reasons,
      details: gateDetails(judge),
      code: trusted ? null : driftBlocks ? 'JUDGE_DRIFT' : 'JUDGE_UNTRUSTED',
      judge,
      gate: { passed: gate.passed, kappa: gate.kappa, lowerBound: gate.lowerBound, minKappa: config.minKappa, minLowerBound: config.minLowerBound },
      drift: { checked: inputs.drift !== undefined, status: inputs.drift?.status ?? null, reasons: inputs.drift?.reasons ?? [], blocks: driftBlocks },
    };
    const title = `Judge trust — ${trusted ? 'trusted' : 'NOT trusted'}`;
    const blocks: ReportBlock[] = [
      { kind: 'heading', level: 1, text: title },
      {
        kind: 'paragraph',
        text: trusted
          ? `Judge ${judge.judge}${judge.offline ? ' (offline judge)' : ''}, spec ${judge.specDigest.slice(0, 12)}: its verdicts may act. ${reasons.join('; ')}.`
          : `${untrustedReason(trust) ?? ''}. Nothing acts on its verdicts: the benchmark is not judged, production traffic is not mirrored, no lost request joins the training data, and deploy refuses.`,
      },
      { kind: 'paragraph', text: `Calibration: ${trust.details}.` },
      {
        kind: 'table',
        rows: [
          ['check', 'value', 'bar', 'result'],
          [
            'held-out kappa (mean of both annotators)',
            gate.kappa?.toFixed(3) ?? '–',
            `≥ ${config.minKappa}`,
            gate.kappa !== null && gate.kappa >= config.minKappa ? 'pass' : 'FAIL',
          ],
          [
            `${TRUST_CONFIDENCE * 100}% lower bound (bootstrap over ${judge.heldOut.items} items)`,
            gate.lowerBound?.toFixed(3) ?? '–',
            `≥ ${config.minLowerBound}`,
            gate.lowerBound !== null && gate.lowerBound >= config.minLowerBound ? 'pass' : 'FAIL',
          ],
          ['golden-set drift', inputs.drift?.status ?? 'not checked', `onDrift=${config.onDrift}`, driftBlocks ? 'FAIL' : 'pass'],
        ],
      },
    ];
    await writeReport(outputs.report, title, blocks);
    if (!trusted) {
      if (config.onUntrusted === 'fail') throw untrustedError(trust, 'the judge must not act');
      log.warn({ reasons }, 'the judge is not trusted: the steps that act on its verdicts will refuse');
    }
    return { trust };
  },
});
