import { z } from 'zod';
import type { Slices } from './benchmark-generator.js';
import type { Condition, FlowWorkflow } from './flow-workflow.js';
import { ACTIONS } from './flow-catalog.js';
import { validateFlow } from './validate-flow.js';
import { workflowDescriptor } from './workflow-descriptor.js';
import { meanInterval } from '../stats/paired-tests.js';

/** Deterministic scores of one predicted workflow against the expected one (each 0..1; null when not applicable). */
export interface ExampleScores {
  valid: number;
  trigger: number;
  /** Share of the expected condition operators the prediction uses; null when none are expected. */
  conditionOperators: number | null;
  actionF1: number;
  exact: number;
}

export const METRICS = ['valid', 'trigger', 'conditionOperators', 'actionF1', 'exact'] as const;
export type Metric = (typeof METRICS)[number];

function operators(condition: unknown, into: string[] = []): string[] {
  const c = condition as Condition | undefined;
  if (c === undefined || typeof c !== 'object' || c === null) return into;
  if (c.kind === 'group') for (const t of c.terms) operators(t, into);
  else if (c.kind === 'quantifier') {
    into.push(c.quantifier);
    operators(c.condition, into);
  } else if (c.kind === 'compare' || c.kind === 'check') into.push(c.operator);
  return into;
}

const ACTION_IDS = new Set(ACTIONS.map((a) => a.taskId));

export function scoreExample(predicted: FlowWorkflow | undefined, expected: FlowWorkflow): ExampleScores {
  const expectedOps = expected.steps.flatMap((s) => (s.task_type === 'CONDITION' ? operators(s.config.condition) : []));
  if (predicted === undefined) return { valid: 0, trigger: 0, conditionOperators: expectedOps.length === 0 ? null : 0, actionF1: 0, exact: 0 };
  const trigger = (w: FlowWorkflow): string | undefined => w.steps.find((s) => s.task_type === 'TRIGGER')?.task_id;
  const predictedOps = predicted.steps.flatMap((s) => (s.task_type === 'CONDITION' ? operators(s.config.condition) : []));
  let matched = 0;
  const pool = [...predictedOps];
  for (const op of expectedOps) {
    const at = pool.indexOf(op);
    if (at < 0) continue;
    pool.splice(at, 1);
    matched++;
  }
  const actions = (w: FlowWorkflow): Set<string> => new Set(w.steps.filter((s) => ACTION_IDS.has(s.task_id)).map((s) => s.task_id));
  const want = actions(expected);
  const got = actions(predicted);
  const hits = [...got].filter((a) => want.has(a)).length;
  const precision = got.size === 0 ? 0 : hits / got.size;
  const recall = want.size === 0 ? 1 : hits / want.size;
  return {
    valid: validateFlow(predicted).length === 0 ? 1 : 0,
    trigger: trigger(predicted) === trigger(expected) ? 1 : 0,
    conditionOperators: expectedOps.length === 0 ? null : matched / expectedOps.length,
    actionF1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    exact: workflowDescriptor(predicted) === workflowDescriptor(expected) ? 1 : 0,
  };
}

export type MetricSummary = Record<Metric, number | null> & {
  examples: number;
  /** 95% t interval of each metric's mean over the examples (one pseudo-pass and one pseudo-fail keep it honest for small or unanimous slices). */
  ci: Record<Metric, [number, number] | null>;
};

export function summarize(scores: readonly ExampleScores[]): MetricSummary {
  const summary = { examples: scores.length, ci: {} } as MetricSummary;
  for (const metric of METRICS) {
    const values = scores.map((s) => s[metric]).filter((v): v is number => v !== null);
    summary[metric] = values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
    summary.ci[metric] = values.length === 0 ? null : meanInterval(values, { prior: [1, 0] }).ci;
  }
  return summary;
}

/** The slices a benchmark is broken down by: trigger category, create vs edit, email, third-party. */
export function sliceKeys(slices: Slices): string[] {
  return [`trigger:${slices.triggerCategory}`, `kind:${slices.kind}`, ...(slices.email ? ['email'] : []), ...(slices.thirdParty ? ['third-party'] : [])];
}

/** Zod form of a benchmark example's or a recorded request's slices. */
export const SliceTags = z.object({ triggerCategory: z.string(), kind: z.enum(['create', 'edit']), email: z.boolean(), thirdParty: z.boolean() });

/** Items grouped by each slice they belong to (sorted by slice), each group summarized. */
export function bySlice<T, R>(items: readonly T[], slicesOf: (item: T) => Slices, summarizeGroup: (group: T[]) => R): Record<string, R> {
  const groups = new Map<string, T[]>();
  for (const item of items) for (const key of sliceKeys(slicesOf(item))) groups.set(key, [...(groups.get(key) ?? []), item]);
  return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([key, group]) => [key, summarizeGroup(group)]));
}

export function summarizeBySlice(results: ReadonlyArray<{ slices: Slices; scores: ExampleScores }>): Record<string, MetricSummary> {
  return bySlice(
    results,
    (r) => r.slices,
    (group) => summarize(group.map((r) => r.scores)),
  );
}
