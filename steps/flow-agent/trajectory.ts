import type { Condition, FlowStep, FlowWorkflow } from './flow-workflow.js';

// The ideal multi-turn tool-call conversation from a merchant request to the finished workflow, built
// deterministically from the workflow, in OpenAI's chat fine-tuning format (one JSON line each).

export const TRAJECTORY_FORMAT = 'flow-trajectory/v1';

const SYSTEM = 'You build Shopify Flow workflows for merchants. Use the tools to build exactly what the merchant asks for, validate it, then summarize what you built.';

const schema = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: false });
const placement = { after: { type: 'string', description: 'step_id to attach to' }, port: { type: 'string', enum: ['output', 'true', 'false', 'loop_body', 'after'] } };

/** The agent's tools, as the fine-tuning file declares them. */
export const FLOW_TOOLS = [
  { type: 'function', function: { name: 'get_workflow', description: 'Read the workflow the merchant wants to change.', parameters: schema({ name: { type: 'string' } }, ['name']) } },
  { type: 'function', function: { name: 'add_trigger', description: 'Start the workflow with a trigger task.', parameters: schema({ step_id: { type: 'string' }, task_id: { type: 'string' } }, ['step_id', 'task_id']) } },
  { type: 'function', function: { name: 'add_condition', description: 'Add a condition; its true/false ports branch.', parameters: schema({ step_id: { type: 'string' }, ...placement, condition: { type: 'object' } }, ['step_id', 'after', 'port', 'condition']) } },
  { type: 'function', function: { name: 'add_action', description: 'Add an action task with its config.', parameters: schema({ step_id: { type: 'string' }, ...placement, task_id: { type: 'string' }, config: { type: 'object' } }, ['step_id', 'after', 'port', 'task_id', 'config']) } },
  { type: 'function', function: { name: 'add_foreach', description: 'Loop over a list; attach the loop body to loop_body.', parameters: schema({ step_id: { type: 'string' }, ...placement, items: { type: 'string' }, item_name: { type: 'string' } }, ['step_id', 'after', 'port', 'items', 'item_name']) } },
  { type: 'function', function: { name: 'update_step', description: 'Replace the config of an existing step.', parameters: schema({ step_id: { type: 'string' }, config: { type: 'object' } }, ['step_id', 'config']) } },
  { type: 'function', function: { name: 'validate_workflow', description: 'Check the workflow; returns the problems found.', parameters: schema({}, []) } },
] as const;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

export interface TrainingExample {
  messages: ChatMessage[];
  tools: typeof FLOW_TOOLS;
}

/** Steps in the order an agent adds them: breadth-first from the trigger, each after the step that links to it. */
function buildOrder(workflow: FlowWorkflow): Array<{ step: FlowStep; after?: string; port?: string }> {
  const byId = new Map(workflow.steps.map((s) => [s.step_id, s]));
  const incoming = new Map<string, { from: string; port: string }>();
  for (const link of workflow.links) if (!incoming.has(link.to)) incoming.set(link.to, { from: link.from, port: link.port });
  const order: Array<{ step: FlowStep; after?: string; port?: string }> = [];
  const queue = workflow.steps.filter((s) => s.task_type === 'TRIGGER').map((s) => s.step_id);
  const seen = new Set<string>();
  while (queue.length > 0) {
    const id = queue.shift() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const step = byId.get(id);
    if (step === undefined) continue;
    const from = incoming.get(id);
    order.push({ step, ...(from === undefined || step.task_type === 'TRIGGER' ? {} : { after: from.from, port: from.port }) });
    for (const link of workflow.links) if (link.from === id) queue.push(link.to);
  }
  return order;
}

function callFor(entry: { step: FlowStep; after?: string; port?: string }): { name: string; args: Record<string, unknown> } {
  const { step } = entry;
  const at = { after: entry.after ?? '', port: entry.port ?? 'output' };
  switch (step.task_type) {
    case 'TRIGGER':
      return { name: 'add_trigger', args: { step_id: step.step_id, task_id: step.task_id } };
    case 'CONDITION':
      return { name: 'add_condition', args: { step_id: step.step_id, ...at, condition: step.config.condition as Condition } };
    case 'FOREACH':
      return { name: 'add_foreach', args: { step_id: step.step_id, ...at, items: step.config.items, item_name: step.config.itemName } };
    default:
      return { name: 'add_action', args: { step_id: step.step_id, ...at, task_id: step.task_id, config: step.config } };
  }
}

/**
 * The conversation for one example. For an edit, the agent first reads the existing workflow, then
 * adds what is new and updates what changed; for a new workflow it builds every step.
 */
export function buildTrajectory(request: string, expected: FlowWorkflow, base?: FlowWorkflow): TrainingExample {
  const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: request }];
  let n = 0;
  const call = (name: string, args: Record<string, unknown>, result: unknown): void => {
    const id = `call_${++n}`;
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }] });
    messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(result) });
  };
  const existing = new Map((base?.steps ?? []).map((s) => [s.step_id, s]));
  if (base !== undefined) call('get_workflow', { name: base.name }, base);
  for (const entry of buildOrder(expected)) {
    const before = existing.get(entry.step.step_id);
    if (before === undefined) {
      const { name, args } = callFor(entry);
      call(name, args, { ok: true, step_id: entry.step.step_id });
    } else if (JSON.stringify(before.config) !== JSON.stringify(entry.step.config)) {
      call('update_step', { step_id: entry.step.step_id, config: entry.step.config }, { ok: true, step_id: entry.step.step_id });
    }
  }
  call('validate_workflow', {}, { valid: true, problems: [] });
  messages.push({ role: 'assistant', content: `${base === undefined ? 'Created' : 'Updated'} the workflow "${expected.name}" with ${expected.steps.length} steps; it validates.` });
  return { messages, tools: FLOW_TOOLS };
}

/** Replays a trajectory's tool calls into a workflow: what evaluation and tests use to check one. */
export function replayTrajectory(example: TrainingExample): FlowWorkflow {
  const steps = new Map<string, FlowStep>();
  const links: FlowWorkflow['links'] = [];
  let name = 'workflow';
  for (const message of example.messages) {
    for (const call of message.tool_calls ?? []) {
      const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
      const id = args.step_id as string;
      const add = (step: FlowStep): void => {
        steps.set(id, step);
        if (step.task_type !== 'TRIGGER') links.push({ from: args.after as string, port: args.port as string, to: id });
      };
      if (call.function.name === 'add_trigger') add({ step_id: id, task_id: args.task_id as string, task_type: 'TRIGGER', config: {} });
      if (call.function.name === 'add_condition') add({ step_id: id, task_id: 'shopify::flow::condition', task_type: 'CONDITION', config: { condition: args.condition } });
      if (call.function.name === 'add_foreach') add({ step_id: id, task_id: 'shopify::flow::for_each', task_type: 'FOREACH', config: { items: args.items, itemName: args.item_name } });
      if (call.function.name === 'add_action') add({ step_id: id, task_id: args.task_id as string, task_type: 'ACTION', config: args.config as Record<string, unknown> });
      if (call.function.name === 'update_step') {
        const step = steps.get(id);
        if (step) step.config = args.config as Record<string, unknown>;
      }
      if (call.function.name === 'get_workflow') {
        const tool = example.messages.find((m) => m.tool_call_id === call.id);
        const base = JSON.parse(tool?.content ?? '{}') as FlowWorkflow;
        name = base.name;
        for (const s of base.steps) steps.set(s.step_id, structuredClone(s));
        links.push(...base.links);
      }
    }
  }
  return { name, steps: [...steps.values()], links };
}
