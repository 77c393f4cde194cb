import { TASKS } from './flow-catalog.js';
import type { Condition, FlowWorkflow } from './flow-workflow.js';
import { SeededRandom } from '../stats/seeded-random.js';

// The offline stand-in for the LLM that writes merchant requests: templates over the workflow's
// structure. Labelled as offline wherever it is used; no key, no network.

export const OFFLINE_WRITER_ID = 'offline-template-writer/v1';

const OPERATOR_WORDS: Record<string, string> = {
  '==': 'is',
  '!=': 'is not',
  '>': 'is over',
  '>=': 'is at least',
  '<': 'is under',
  '<=': 'is at most',
  'starts_with?': 'starts with',
  'ends_with?': 'ends with',
  'includes?': 'contains',
  'not_starts_with?': "doesn't start with",
  'not_ends_with?': "doesn't end with",
  'not_includes?': "doesn't contain",
  'in?': 'is one of',
  'not_in?': 'is not one of',
  'empty_or_nil?': 'is empty',
  'not_empty_or_nil?': 'is set',
  'nil?': 'is missing',
  'not_nil?': 'is set',
};

function words(path: string): string {
  return path
    .replace(/\./g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

export function describeCondition(condition: Condition): string {
  switch (condition.kind) {
    case 'compare':
      return `the ${words(condition.field)} ${OPERATOR_WORDS[condition.operator]} ${Array.isArray(condition.value) ? condition.value.join(' or ') : String(condition.value)}`;
    case 'check':
      return `the ${words(condition.field)} ${OPERATOR_WORDS[condition.operator]}`;
    case 'quantifier':
      return `${condition.quantifier === 'none' ? 'none' : condition.quantifier} of the ${words(condition.field)} where ${describeCondition(condition.condition).replace(`the ${condition.as} `, 'it ')}`;
    case 'group':
      return condition.terms.map(describeCondition).join(condition.connectives[0] === '||' ? ' or ' : ' and ');
  }
}

function actionPhrase(taskId: string, config: Record<string, unknown>): string {
  const title = (TASKS.get(taskId)?.title ?? taskId).toLowerCase();
  const tags = Array.isArray(config.tags) ? ` "${config.tags.join('", "')}"` : '';
  const to = typeof config.to === 'string' ? ` to ${config.to}` : '';
  const url = typeof config.url === 'string' ? ` to ${config.url}` : '';
  const channel = typeof config.channel === 'string' && taskId.startsWith('slack') ? ` in ${config.channel}` : '';
  return `${title}${tags}${to}${url}${channel}`;
}

/** A plausible merchant request for the workflow; `variant` picks among phrasings (deterministic). */
export function offlineRequest(workflow: FlowWorkflow, variant = 0, base?: FlowWorkflow): string {
  const rng = new SeededRandom(variant + workflow.steps.length * 7919);
  const trigger = workflow.steps.find((s) => s.task_type === 'TRIGGER');
  const when = (TASKS.get(trigger?.task_id ?? '')?.title ?? 'something happens').toLowerCase();
  const condition = workflow.steps.find((s) => s.task_type === 'CONDITION')?.config.condition as Condition | undefined;
  const loop = workflow.steps.some((s) => s.task_type === 'FOREACH');
  const actions = workflow.steps
    .filter((s) => s.task_type === 'ACTION' && !s.task_id.startsWith('shopify::flow::get_'))
    .map((s) => actionPhrase(s.task_id, s.config));
  const opening = rng.pick(['When', 'Whenever', 'Every time']);
  const iff = condition === undefined ? '' : ` and ${describeCondition(condition)}`;
  const scope = loop ? ', go through the matching orders and' : ',';
  const request = `${opening} ${when === 'scheduled time' ? 'the schedule fires' : `a ${when.replace(/ created$/, ' is created')}`}${iff}${scope} ${actions.join(', then ')}.`;
  if (base === undefined) return request;
  return `${rng.pick(['Change my workflow', 'Update the automation', 'Edit my flow'])} "${base.name}": ${request.charAt(0).toLowerCase()}${request.slice(1)}`;
}
