import type { Condition, FlowStep, FlowWorkflow } from './flow-workflow.js';
import { validateFlow } from './validate-flow.js';

// The ideal multi-turn tool-call conversation from a merchant request to the finished workflow, built
// deterministically from the workflow, in OpenAI's chat fine-tuning format (one JSON line each).

export const TRAJECTORY_FORMAT = 'flow-trajectory/v1';

/** The agent's system prompt, the same at training and serving time. */
export const AGENT_SYSTEM_PROMPT =
  'You build Shopify Flow workflows for merchants. Use the tools to build exactly what the merchant asks for, validate it, then summarize what you built.';

const schema = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: false });
const placement = {
  after: { type: 'string', description: 'step_id to attach to' },
  port: { type: 'string', enum: ['output', 'true', 'false', 'loop_body', 'after'] },
};

/** The agent's tools, as the fine-tuning file declares them. */
export const FLOW_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_workflow',
      description: 'Read the workflow the merchant wants to change.',
      parameters: schema({ name: { type: 'string' } }, ['name']),
    },
  },
  {
    type: 'function',
    function: {
      name: 'add_trigger',
      description: 'Start the workflow with a trigger task.',
      parameters: schema({ step_id: { type: 'string' }, task_id: { type: 'string' } }, ['step_id', 'task_id']),
    },
  },
  {
    type: 'function',
    function: {
      name: 'add_condition',
      description: 'Add a condition; its true/false ports branch.',
      parameters: schema({ step_id: { type: 'string' }, ...placement, condition: { type: 'object' } }, ['step_id', 'after', 'port', 'condition']),
    },
  },
  {
    type: 'function',
    function: {
      name: 'add_action',
      description: 'Add an action task with its config.',
      parameters: schema({ step_id: { type: 'string' }, ...placement, task_id: { type: 'string' }, config: { type: 'object' } }, [
        'step_id',
        'after',
        'port',
        'task_id',
        'config',
      ]),
    },
  },
  {
    type: 'function',
    function: {
      name: 'add_foreach',
      description: 'Loop over a list; attach the loop body to loop_body.',
      parameters: schema({ step_id: { type: 'string' }, ...placement, items: { type: 'string' }, item_name: { type: 'string' } }, [
        'step_id',
        'after',
        'port',
        'items',
        'item_name',
      ]),
    },
  },
  {
    type: 'function',
    function: {
      name: 'update_step',
      description: 'Replace the config of an existing step.',
      parameters: schema({ step_id: { type: 'string' }, config: { type: 'object' } }, ['step_id', 'config']),
    },
  },
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
  const messages: ChatMessage[] = [
    { role: 'system', content: AGENT_SYSTEM_PROMPT },
    { role: 'user', content: request },
  ];
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
  messages.push({
    role: 'assistant',
    content: `${base === undefined ? 'Created' : 'Updated'} the workflow "${expected.name}" with ${expected.steps.length} steps; it validates.`,
  });
  return { messages, tools: FLOW_TOOLS };
}

/**
 * Applies the agent's tool calls to a workflow under construction: what replaying a trajectory and
 * running a served model on the benchmark both do. Each call returns the tool's result for the model.
 */
export class WorkflowBuilder {
  private readonly steps = new Map<string, FlowStep>();
  private readonly links: FlowWorkflow['links'] = [];
  private name = 'workflow';

  constructor(private readonly base?: FlowWorkflow) {}

  apply(name: string, argumentsJson: string): unknown {
    let args: Record<string, unknown>;
    try {
      args = JSON.parse(argumentsJson) as Record<string, unknown>;
    } catch {
      return { ok: false, error: 'arguments are not JSON' };
    }
    const id = String(args.step_id ?? '');
    const add = (step: FlowStep): unknown => {
      this.steps.set(id, step);
      if (step.task_type !== 'TRIGGER') this.links.push({ from: String(args.after ?? ''), port: String(args.port ?? 'output'), to: id });
      return { ok: true, step_id: id };
    };
    switch (name) {
      case 'get_workflow':
        if (this.base === undefined) return { ok: false, error: 'there is no existing workflow' };
        this.name = this.base.name;
        for (const s of this.base.steps) this.steps.set(s.step_id, structuredClone(s));
        this.links.push(...structuredClone(this.base.links));
        return this.base;
      case 'add_trigger':
        return add({ step_id: id, task_id: String(args.task_id), task_type: 'TRIGGER', config: {} });
      case 'add_condition':
        return add({ step_id: id, task_id: 'shopify::flow::condition', task_type: 'CONDITION', config: { condition: args.condition } });
      case 'add_foreach':
        return add({ step_id: id, task_id: 'shopify::flow::for_each', task_type: 'FOREACH', config: { items: args.items, itemName: args.item_name } });
      case 'add_action':
        return add({ step_id: id, task_id: String(args.task_id), task_type: 'ACTION', config: (args.config ?? {}) as Record<string, unknown> });
      case 'update_step': {
        const step = this.steps.get(id);
        if (step === undefined) return { ok: false, error: `no step ${id}` };
        step.config = (args.config ?? {}) as Record<string, unknown>;
        return { ok: true, step_id: id };
      }
      case 'validate_workflow': {
        const problems = validateFlow(this.workflow());
        return { valid: problems.length === 0, problems };
      }
      default:
        return { ok: false, error: `unknown tool ${name}` };
    }
  }

  workflow(): FlowWorkflow {
    return { name: this.name, steps: [...this.steps.values()], links: [...this.links] };
  }
}

/** Replays a trajectory's tool calls into a workflow: what the local model learns from and tests check. */
export function replayTrajectory(example: TrainingExample): FlowWorkflow {
  const getWorkflow = example.messages.flatMap((m) => m.tool_calls ?? []).find((c) => c.function.name === 'get_workflow');
  const base =
    getWorkflow === undefined ? undefined : (JSON.parse(example.messages.find((m) => m.tool_call_id === getWorkflow.id)?.content ?? '{}') as FlowWorkflow);
  const builder = new WorkflowBuilder(base);
  for (const message of example.messages) for (const call of message.tool_calls ?? []) builder.apply(call.function.name, call.function.arguments);
  return builder.workflow();
}
