import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { JUDGE_LABELS } from './calibration-generator.js';
import type { JudgeSpec } from './judge-spec.js';
import { offlineJudge } from './offline-judge.js';

/** Which of two outputs, shown as A and B, better serves the request. */
export type Preference = 'A' | 'B' | 'tie';
export type PairJudge = (spec: JudgeSpec, request: string, a: FlowWorkflow | null, b: FlowWorkflow | null) => Promise<Preference | null>;
export type MirrorOutcome = 'win' | 'tie' | 'loss';

/** The offline pairwise judge: each output's label under the spec (no output ranks below bad); equal labels tie. */
export const offlinePairJudge: PairJudge = (spec, request, a, b) => {
  const rank = (w: FlowWorkflow | null): number => (w === null ? -1 : JUDGE_LABELS.indexOf(offlineJudge(request, w, spec).label));
  const [ra, rb] = [rank(a), rank(b)];
  return Promise.resolve(ra === rb ? 'tie' : ra > rb ? 'A' : 'B');
};

/**
 * Judges production against candidate blind, twice with the positions swapped: the candidate wins
 * only if it is preferred in both orders, loses only if production is; anything else (including a
 * judge that just prefers whatever comes first) is a tie. Null when either judgement failed.
 */
export async function mirroredOutcome(
  judge: PairJudge,
  spec: JudgeSpec,
  request: string,
  production: FlowWorkflow | null,
  candidate: FlowWorkflow | null,
): Promise<MirrorOutcome | null> {
  const first = await judge(spec, request, production, candidate);
  const second = await judge(spec, request, candidate, production);
  if (first === null || second === null) return null;
  if (first === 'B' && second === 'A') return 'win';
  if (first === 'A' && second === 'B') return 'loss';
  return 'tie';
}
