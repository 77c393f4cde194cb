import type { EvaluationMetrics } from './evaluate.js';
import { METRICS, type Metric } from './score-workflow.js';

export interface GatePolicy {
  /** The metric promotion is judged by. */
  metric: Metric;
  /** The candidate's overall score must reach this. */
  minScore: number;
  /** No slice may fall more than this below production's score on it. */
  maxSliceRegression: number;
}

export interface GateDecision {
  promote: boolean;
  reasons: string[];
}

/**
 * Promote only a candidate that reaches the minimum score and does not regress any slice beyond the
 * tolerance against the current production model (slices production was not measured on are new).
 */
export function decideGate(candidate: EvaluationMetrics, production: EvaluationMetrics | undefined, policy: GatePolicy): GateDecision {
  if (!(METRICS as readonly string[]).includes(policy.metric)) return { promote: false, reasons: [`unknown metric ${policy.metric}`] };
  const reasons: string[] = [];
  const score = candidate.overall[policy.metric];
  if (score === null || score < policy.minScore)
    reasons.push(`${policy.metric} ${score === null ? 'n/a' : score.toFixed(3)} is below the minimum ${policy.minScore}`);
  if (production !== undefined) {
    for (const [slice, summary] of Object.entries(candidate.slices)) {
      const before = production.slices[slice]?.[policy.metric];
      const now = summary[policy.metric];
      if (before === null || before === undefined || now === null) continue;
      if (now < before - policy.maxSliceRegression)
        reasons.push(`slice ${slice} regresses: ${policy.metric} ${before.toFixed(3)} → ${now.toFixed(3)} (tolerance ${policy.maxSliceRegression})`);
    }
  }
  return reasons.length === 0
    ? {
        promote: true,
        reasons: [
          `${policy.metric} ${(score as number).toFixed(3)} ≥ ${policy.minScore}${production === undefined ? '; no production model yet' : '; no slice regresses beyond the tolerance'}`,
        ],
      }
    : { promote: false, reasons };
}
