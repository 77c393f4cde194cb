import { TASKS } from '../flow-agent/flow-catalog.js';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { validateFlow } from '../flow-agent/validate-flow.js';
import type { JudgeLabel } from './calibration-generator.js';

export const OFFLINE_JUDGE_ID = 'offline-rule-judge/v1';

export interface Judgement {
  label: JudgeLabel;
  reasons: string[];
}

const words = (text: string): string => text.toLowerCase();

/**
 * The local profile's judge, labelled offline: rules instead of an LLM. An invalid workflow, or one
 * whose trigger is not what the request describes, is bad; one that leaves out or adds actions the
 * request does not mention needs improvement; anything else is good.
 */
export function offlineJudge(request: string, output: FlowWorkflow): Judgement {
  const text = words(request);
  const problems = validateFlow(output);
  if (problems.length > 0) return { label: 'bad', reasons: [`invalid workflow: ${problems[0]?.code ?? ''}`] };
  const trigger = output.steps.find((s) => s.task_type === 'TRIGGER');
  const title = words(TASKS.get(trigger?.task_id ?? '')?.title ?? '');
  const triggerWords = title.split(' ').filter((w) => w.length > 3);
  const isSchedule = trigger?.task_id === 'shopify::flow::scheduled_time';
  if (!isSchedule && !triggerWords.every((w) => text.includes(w.replace(/d$/, '')))) return { label: 'bad', reasons: [`the request does not describe the trigger "${title}"`] };
  const reasons: string[] = [];
  const actions = output.steps.filter((s) => s.task_type === 'ACTION' && !s.task_id.startsWith('shopify::flow::get_'));
  for (const action of actions) {
    const name = words(TASKS.get(action.task_id)?.title ?? action.task_id);
    if (!text.includes(name)) reasons.push(`action "${name}" is not asked for`);
    const tags = action.config.tags;
    if (Array.isArray(tags) && !tags.every((t) => typeof t === 'string' && text.includes(words(t)))) reasons.push(`tags ${JSON.stringify(tags)} are not the ones asked for`);
  }
  const asked = [...text.matchAll(/(?:, then |, )([a-z][a-z ]+?)(?= "| to |, then |\.|$)/g)].length;
  if (asked > actions.length) reasons.push('the request asks for more actions than the workflow has');
  return reasons.length > 0 ? { label: 'needs_improvement', reasons } : { label: 'good', reasons: ['matches the request'] };
}
