import type { BenchmarkExample } from '../flow-agent/benchmark-generator.js';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { SeededRandom } from '../stats/seeded-random.js';

/** The judge's label scale, in order (worst to best): weighted kappa depends on this order. */
export const JUDGE_LABELS = ['bad', 'needs_improvement', 'good'] as const;
export type JudgeLabel = (typeof JUDGE_LABELS)[number];

/** One agent output with two human annotators' labels. */
export interface CalibrationItem {
  id: string;
  split: 'development' | 'held-out';
  request: string;
  output: FlowWorkflow;
  /** How the output was made from the ideal workflow: what a disagreement report groups by. */
  pattern: 'ideal' | 'changed-config' | 'missing-action' | 'extra-action' | 'wrong-trigger' | 'broken-link';
  slice: 'create' | 'edit';
  humans: [JudgeLabel, JudgeLabel];
}

const QUALITY: Record<CalibrationItem['pattern'], JudgeLabel> = {
  ideal: 'good',
  'changed-config': 'needs_improvement',
  'missing-action': 'needs_improvement',
  'extra-action': 'needs_improvement',
  'wrong-trigger': 'bad',
  'broken-link': 'bad',
};

/** The ideal workflow degraded in one recognisable way. */
function degrade(rng: SeededRandom, ideal: FlowWorkflow, pattern: CalibrationItem['pattern']): FlowWorkflow {
  const w = structuredClone(ideal);
  const actions = w.steps.filter((s) => s.task_type === 'ACTION');
  switch (pattern) {
    case 'ideal':
      return w;
    case 'changed-config': {
      const step = rng.pick(actions);
      const key = Object.keys(step.config)[0];
      if (key !== undefined) step.config[key] = Array.isArray(step.config[key]) ? ['other-tag'] : 'something else';
      return w;
    }
    case 'missing-action': {
      const last = actions.find((a) => !w.links.some((l) => l.from === a.step_id));
      if (last === undefined || actions.length < 2) return degrade(rng, ideal, 'changed-config');
      w.steps = w.steps.filter((s) => s !== last);
      w.links = w.links.filter((l) => l.to !== last.step_id);
      return w;
    }
    case 'extra-action': {
      const from = actions.at(-1)?.step_id ?? 'trigger';
      w.steps.push({ step_id: 'extra', task_id: 'shopify::flow::log_output', task_type: 'ACTION', config: { message: 'debug' } });
      w.links.push({ from, port: 'output', to: 'extra' });
      return w;
    }
    case 'wrong-trigger': {
      const trigger = w.steps.find((s) => s.task_type === 'TRIGGER');
      if (trigger)
        trigger.task_id = trigger.task_id === 'shopify::admin::customer_created' ? 'shopify::admin::product_created' : 'shopify::admin::customer_created';
      return w;
    }
    case 'broken-link':
      w.links = w.links.slice(0, Math.max(0, w.links.length - 1));
      return w;
  }
}

/** A human's label: usually the output's quality, sometimes a neighbouring one (humans disagree too). */
function annotate(rng: SeededRandom, truth: JudgeLabel, accuracy: number): JudgeLabel {
  if (rng.chance(accuracy)) return truth;
  const i = JUDGE_LABELS.indexOf(truth);
  const neighbours = [JUDGE_LABELS[i - 1], JUDGE_LABELS[i + 1]].filter((l): l is JudgeLabel => l !== undefined);
  return rng.pick(neighbours);
}

/**
 * A calibration set: agent outputs (benchmark workflows, ideal or degraded in known ways) labelled by
 * two annotators who agree with each other at a kappa of about 0.65–0.7, like real annotators;
 * the first `developmentShare` is for calibrating the judge, the rest is held out.
 */
export function generateCalibrationSet(benchmark: readonly BenchmarkExample[], seed: number, size: number, developmentShare = 0.5): CalibrationItem[] {
  const rng = new SeededRandom(seed);
  const patterns: Array<CalibrationItem['pattern']> = ['ideal', 'ideal', 'changed-config', 'missing-action', 'extra-action', 'wrong-trigger', 'broken-link'];
  const items: CalibrationItem[] = [];
  for (let i = 0; i < size; i++) {
    const example = benchmark[i % benchmark.length] as BenchmarkExample;
    const pattern = rng.pick(patterns);
    const truth = QUALITY[pattern];
    items.push({
      id: `c-${String(i).padStart(3, '0')}`,
      split: i < size * developmentShare ? 'development' : 'held-out',
      request: example.request,
      output: degrade(rng, example.expected, pattern),
      pattern,
      slice: example.slices.kind,
      humans: [annotate(rng, truth, 0.88), annotate(rng, truth, 0.85)],
    });
  }
  return items;
}
