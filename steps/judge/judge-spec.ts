import { createHash } from 'node:crypto';
import { z } from 'zod';
import { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { JUDGE_LABELS } from './calibration-generator.js';
import { canonicalJson } from 'flywheel';

/** What the offline judge checks; an LLM judge reads the same ideas in the rubric's words. */
export const FINDINGS = [
  'invalid-workflow',
  'trigger-not-requested',
  'action-not-requested',
  'tags-not-requested',
  'fewer-actions-than-asked',
  'quoted-value-missing',
] as const;
export type Finding = (typeof FINDINGS)[number];

const Severity = z.enum([...JUDGE_LABELS, 'ignore']);

export const FewShotExample = z.object({
  /** The calibration item it came from (development part only). */
  from: z.string(),
  request: z.string(),
  output: FlowWorkflow,
  label: z.enum(JUDGE_LABELS),
  explanation: z.string(),
});
export type FewShotExample = z.infer<typeof FewShotExample>;

/**
 * A versioned judge: model, rubric, label scale and few-shot examples. Its content digest names the
 * judge in reports and, as part of step configs, in cache keys: change any word and results recompute.
 */
export const JudgeSpec = z.object({
  /** `offline-rules` (the rule-based judge, labelled offline) or a model on an OpenAI-compatible endpoint. */
  model: z.string().default('offline-rules'),
  labels: z.array(z.string()).default([...JUDGE_LABELS]),
  rubricName: z.string().default('balanced'),
  /** What the LLM is told. */
  rubric: z.string(),
  /** The offline judge's reading of the rubric: the label each finding leads to (the worst one wins). */
  severity: z.record(z.enum(FINDINGS), Severity),
  fewShot: z.array(FewShotExample).default([]),
  temperature: z.number().min(0).max(2).default(0),
});
export type JudgeSpec = z.infer<typeof JudgeSpec>;

export function specDigest(spec: JudgeSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** Rubric variants the calibration search tries: the same findings, weighed differently. */
export const RUBRICS: Record<string, Pick<JudgeSpec, 'rubric' | 'severity'>> = {
  balanced: {
    rubric:
      'Label the workflow "bad" if it is invalid or starts from a trigger the request does not describe; "needs_improvement" if it does the wrong actions, wrong tags or fewer actions than asked; otherwise "good".',
    severity: {
      'invalid-workflow': 'bad',
      'trigger-not-requested': 'bad',
      'action-not-requested': 'needs_improvement',
      'tags-not-requested': 'needs_improvement',
      'fewer-actions-than-asked': 'needs_improvement',
      'quoted-value-missing': 'ignore',
    },
  },
  strict: {
    rubric:
      'Label the workflow "bad" if it is invalid, starts from a trigger the request does not describe, or does an action nobody asked for; "needs_improvement" for wrong tags or fewer actions than asked; otherwise "good".',
    severity: {
      'invalid-workflow': 'bad',
      'trigger-not-requested': 'bad',
      'action-not-requested': 'bad',
      'tags-not-requested': 'needs_improvement',
      'fewer-actions-than-asked': 'needs_improvement',
      'quoted-value-missing': 'ignore',
    },
  },
  lenient: {
    rubric:
      'Label the workflow "bad" only if it is invalid; "needs_improvement" if its trigger, actions or tags differ from the request; otherwise "good". Do not count how many actions the request lists.',
    severity: {
      'invalid-workflow': 'bad',
      'trigger-not-requested': 'needs_improvement',
      'action-not-requested': 'needs_improvement',
      'tags-not-requested': 'needs_improvement',
      'fewer-actions-than-asked': 'ignore',
      'quoted-value-missing': 'ignore',
    },
  },
  'trigger-first': {
    rubric:
      'Label the workflow "bad" if it is invalid or its trigger is not the one the request describes; "needs_improvement" if it does actions nobody asked for; tags and the number of actions do not matter; otherwise "good".',
    severity: {
      'invalid-workflow': 'bad',
      'trigger-not-requested': 'bad',
      'action-not-requested': 'needs_improvement',
      'tags-not-requested': 'ignore',
      'fewer-actions-than-asked': 'ignore',
      'quoted-value-missing': 'ignore',
    },
  },
  'exact-values': {
    rubric:
      'Label the workflow "bad" if it is invalid or starts from a trigger the request does not describe; "needs_improvement" if it does the wrong actions, wrong tags, fewer actions than asked, or leaves out a value the merchant quoted (a tag, an email address, a text); otherwise "good".',
    severity: {
      'invalid-workflow': 'bad',
      'trigger-not-requested': 'bad',
      'action-not-requested': 'needs_improvement',
      'tags-not-requested': 'needs_improvement',
      'fewer-actions-than-asked': 'needs_improvement',
      'quoted-value-missing': 'needs_improvement',
    },
  },
};

export function specWithRubric(base: JudgeSpec, name: string): JudgeSpec {
  const variant = RUBRICS[name];
  if (variant === undefined) throw new Error(`no rubric ${name}: use one of ${Object.keys(RUBRICS).join(', ')}`);
  return { ...base, rubricName: name, ...variant };
}

/** The starting judge: the balanced rubric, no examples. */
export function defaultJudgeSpec(model = 'offline-rules'): JudgeSpec {
  return JudgeSpec.parse({ model, ...RUBRICS.balanced, rubricName: 'balanced' });
}
