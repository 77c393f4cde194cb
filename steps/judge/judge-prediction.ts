import { z } from 'zod';
import { defineStep, FlywheelError, json } from 'flywheel';
import { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { SliceTags } from '../flow-agent/score-workflow.js';
import { JUDGE_LABELS } from './calibration-generator.js';
import { JudgeTrust, untrustedReason } from './judge-trust.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from './judge-runner.js';

/** One line of evaluate's predictions.jsonl, as the judge reads it. */
export const Prediction = z.object({ id: z.string(), request: z.string(), prediction: FlowWorkflow.nullable(), slices: SliceTags });
export type Prediction = z.infer<typeof Prediction>;

/** One benchmark output's verdict, as the map over the predictions stores it (one JSON Lines line each). */
export const PredictionVerdict = z.object({
  id: z.string(),
  /** null when the judge was not trusted: nothing was asked. */
  label: z.enum(JUDGE_LABELS).nullable(),
  slices: SliceTags,
  judge: z.string(),
  offline: z.boolean(),
});
export type PredictionVerdict = z.infer<typeof PredictionVerdict>;

/**
 * The share of benchmark outputs that must get a valid verdict, else the run fails. The judge step used
 * to tolerate any number of unjudged outputs and count them; now each one is an element that failed:
 * not cached, counted as unjudged in the report, and asked again alone by the next run.
 */
export const JUDGE_MIN_SUCCESS_RATIO = 0.8;

const { concurrency: _concurrency, ...ENDPOINT_CONFIG } = JUDGE_ENDPOINT_CONFIG;

/**
 * The judge on one benchmark output, mapped over evaluate's predictions (`p.map`, one element and
 * one cache entry per output): a missing prediction is bad without a call; an untrusted judge asks
 * nothing (label null). A verdict that stays malformed throws, so it is not cached and the next run asks
 * again for this output alone. The LLM judge's memo stays: the trust input is in every element's key,
 * and a new trust decision with the same spec (e.g. another drift measurement) re-runs every element
 * without changing one verdict, which the memo answers without calls.
 */
export const judgePrediction = defineStep({
  id: 'judge-prediction',
  version: 1,
  description: "Judge one of the candidate's benchmark outputs with the calibrated judge, if humans can trust it",
  config: z.object(ENDPOINT_CONFIG),
  inputs: { prediction: json(Prediction), trust: json(JudgeTrust) },
  outputs: { verdict: json(PredictionVerdict) },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, span, usage }): Promise<{ verdict: PredictionVerdict }> {
    const calibrated = inputs.trust.judge;
    const p = inputs.prediction;
    if (untrustedReason(inputs.trust) !== null)
      return { verdict: { id: p.id, label: null, slices: p.slices, judge: calibrated.judge, offline: calibrated.offline } };
    const runner = judgeRunner(calibrated.spec.model, { ...config, concurrency: 1 }, "judge-each (the calibrated spec's model)", { span, usage });
    if (p.prediction === null) return { verdict: { id: p.id, label: 'bad' as const, slices: p.slices, judge: runner.id, offline: runner.offline } };
    const [label] = await runner.judge(calibrated.spec, [{ request: p.request, output: p.prediction }]);
    if (label === null || label === undefined) {
      throw new FlywheelError('JUDGE_VERDICT_MALFORMED', `benchmark output ${p.id}: the judge gave no valid verdict`, {
        retryable: false,
        fix: "check the judge's endpoint and model; the next run asks again for this output only",
      });
    }
    return { verdict: { id: p.id, label, slices: p.slices, judge: runner.id, offline: runner.offline } };
  },
});
