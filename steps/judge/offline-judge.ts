import { TASKS } from '../flow-agent/flow-catalog.js';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { validateFlow } from '../flow-agent/validate-flow.js';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';
import { defaultJudgeSpec, type FewShotExample, type Finding, type JudgeSpec } from './judge-spec.js';

export const OFFLINE_JUDGE_ID = 'offline-rule-judge/v2';

export interface Judgement {
  label: JudgeLabel;
  reasons: string[];
}

const words = (text: string): string => text.toLowerCase();

/** What is wrong with an output for a request, by rule: the evidence both judges' rubrics talk about. */
export function findingsOf(request: string, output: FlowWorkflow): Array<{ finding: Finding; reason: string }> {
  const text = words(request);
  const problems = validateFlow(output);
  if (problems.length > 0) return [{ finding: 'invalid-workflow', reason: `invalid workflow: ${problems[0]?.code ?? ''}` }];
  const found: Array<{ finding: Finding; reason: string }> = [];
  const trigger = output.steps.find((s) => s.task_type === 'TRIGGER');
  const title = words(TASKS.get(trigger?.task_id ?? '')?.title ?? '');
  const triggerWords = title.split(' ').filter((w) => w.length > 3);
  const isSchedule = trigger?.task_id === 'shopify::flow::scheduled_time';
  if (!isSchedule && !triggerWords.every((w) => text.includes(w.replace(/d$/, ''))))
    found.push({ finding: 'trigger-not-requested', reason: `the request does not describe the trigger "${title}"` });
  const actions = output.steps.filter((s) => s.task_type === 'ACTION' && !s.task_id.startsWith('shopify::flow::get_'));
  for (const action of actions) {
    const name = words(TASKS.get(action.task_id)?.title ?? action.task_id);
    if (!text.includes(name)) found.push({ finding: 'action-not-requested', reason: `action "${name}" is not asked for` });
    const tags = action.config.tags;
    if (Array.isArray(tags) && !tags.every((t) => typeof t === 'string' && text.includes(words(t))))
      found.push({ finding: 'tags-not-requested', reason: `tags ${JSON.stringify(tags)} are not the ones asked for` });
  }
  const json = JSON.stringify(output).toLowerCase();
  const quoted = [...request.matchAll(/"([^"]+)"/g), ...request.matchAll(/[\w.+-]+@[\w.-]+\.\w+/g)].map((m) => (m[1] ?? m[0]).toLowerCase());
  const missing = quoted.filter((value) => !json.includes(value));
  if (missing.length > 0)
    found.push({
      finding: 'quoted-value-missing',
      reason: `the workflow leaves out ${missing.map((m) => JSON.stringify(m)).join(', ')}, which the request names`,
    });
  const asked = [...text.matchAll(/(?:, then |, )([a-z][a-z ]+?)(?= "| to |, then |\.|$)/g)].length;
  if (asked > actions.length) found.push({ finding: 'fewer-actions-than-asked', reason: 'the request asks for more actions than the workflow has' });
  return found;
}

const signature = (findings: ReadonlyArray<{ finding: Finding }>): string => [...new Set(findings.map((f) => f.finding))].sort().join('+') || 'none';

/** The set of findings as one comparable string: outputs wrong in the same ways share it. */
export function signatureOf(request: string, output: FlowWorkflow): string {
  return signature(findingsOf(request, output));
}

// A spec's few-shot examples are compared with every item judged: their signatures are worked out once.
const exampleSignatures = new WeakMap<FewShotExample, string>();
function exampleSignature(example: FewShotExample): string {
  let known = exampleSignatures.get(example);
  if (known === undefined) {
    known = signatureOf(example.request, example.output);
    exampleSignatures.set(example, known);
  }
  return known;
}

/**
 * The rule-based judge, labelled offline, driven by a judge spec: each finding leads to the label
 * the rubric gives it and the worst one wins; a few-shot example wrong in exactly the same ways as
 * the output (same findings) decides instead, as an example shown to an LLM judge would.
 */
export function offlineJudge(request: string, output: FlowWorkflow, spec: JudgeSpec = defaultJudgeSpec()): Judgement {
  const findings = findingsOf(request, output);
  const itemSignature = signature(findings);
  const example = spec.fewShot.find((e) => exampleSignature(e) === itemSignature);
  if (example !== undefined) return { label: example.label, reasons: [`like example ${example.from}: ${example.explanation}`] };
  let label: JudgeLabel = 'good';
  for (const { finding } of findings) {
    const severity = spec.severity[finding] ?? 'ignore';
    if (severity !== 'ignore' && JUDGE_LABELS.indexOf(severity) < JUDGE_LABELS.indexOf(label)) label = severity;
  }
  return { label, reasons: findings.length > 0 ? findings.map((f) => f.reason) : ['matches the request'] };
}
