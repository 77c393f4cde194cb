import { METRICS, type Metric } from './score-workflow.js';
import { describeSlice, judgeSlices, type Evaluated, type SliceVerdict } from './slice-gate.js';

export interface GatePolicy {
  /** The metric promotion is judged by. */
  metric: Metric;
  /** The candidate's overall score must reach this. */
  minScore: number;
  /** A slice blocks only when it is significantly worse than production by more than this. */
  maxSliceRegression: number;
  /** Family-wise error rate of the slice tests (one-sided, Holm across slices). */
  sliceAlpha: number;
  /** Slices with fewer items are reported but never block alone. */
  minSliceSize: number;
}

export interface GateDecision {
  promote: boolean;
  reasons: string[];
  /** Each slice against production (empty without a production model). */
  slices: SliceVerdict[];
}

/**
 * Promote only a candidate that reaches the minimum score and is not shown to be worse than production
 * on any slice beyond the tolerance (see slice-gate.ts); slices production was not measured on are new.
 */
export function decideGate(candidate: Evaluated, production: Evaluated | undefined, policy: GatePolicy): GateDecision {
  if (!(METRICS as readonly string[]).includes(policy.metric)) return { promote: false, reasons: [`unknown metric ${policy.metric}`], slices: [] };
  const rule = { metric: policy.metric, tolerance: policy.maxSliceRegression, alpha: policy.sliceAlpha, minSliceSize: policy.minSliceSize };
  const reasons: string[] = [];
  const score = candidate.metrics.overall[policy.metric];
  if (score === null || score < policy.minScore)
    reasons.push(`${policy.metric} ${score === null ? 'n/a' : score.toFixed(3)} is below the minimum ${policy.minScore}`);
  const slices = production === undefined ? [] : judgeSlices(candidate, production, rule);
  const tested = slices.filter((s) => s.p !== null);
  for (const slice of slices.filter((s) => s.verdict === 'blocks'))
    reasons.push(`slice worse than production beyond ${(policy.maxSliceRegression * 100).toFixed(1)} pt: ${describeSlice(slice, rule)}`);
  const notes: string[] = [];
  const small = slices.filter((s) => s.verdict === 'too-small');
  if (small.length > 0)
    notes.push(`too small to tell (under ${policy.minSliceSize} items; reported, never blocking alone): ${small.map((s) => `${s.slice} (${s.n})`).join(', ')}`);
  if (production !== undefined && slices.length > 0 && !(slices[0] as SliceVerdict).paired) {
    const missing =
      candidate.items === undefined
        ? "the candidate's per-example scores were not given (wire evaluate's predictions to deploy)"
        : 'production kept no per-example scores (registered before they were kept)';
    notes.push(`${missing}: slices compared unpaired, with the largest variance their means allow (conservative)`);
  }
  if (reasons.length > 0) return { promote: false, reasons: [...reasons, ...notes], slices };
  const passed =
    production === undefined
      ? 'no production model yet'
      : `no slice is worse than production beyond ${(policy.maxSliceRegression * 100).toFixed(1)} pt (one-sided, α ${policy.sliceAlpha}, Holm over ${tested.length} slices)`;
  return { promote: true, reasons: [`${policy.metric} ${(score as number).toFixed(3)} ≥ ${policy.minScore}; ${passed}`, ...notes], slices };
}
