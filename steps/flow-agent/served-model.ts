import type OpenAI from 'openai';
import { chatCompletion, endpointId, openAIClient, type EndpointOptions } from './openai-endpoint.js';
import type { FlowWorkflow } from './flow-workflow.js';
import { AGENT_SYSTEM_PROMPT, FLOW_TOOLS, WorkflowBuilder } from './trajectory.js';

export interface ServedModelOptions extends EndpointOptions {
  model: string;
  /** Most model turns per request before the answer is taken as it stands. */
  maxTurns: number;
}

/**
 * A served candidate (any OpenAI-compatible endpoint: vLLM, a fine-tuning provider, OpenAI): the
 * agent loop of production — the model calls the workflow tools, the tools answer, until it stops.
 */
export class ServedWorkflowModel {
  readonly id: string;
  private readonly client: OpenAI;

  constructor(private readonly options: ServedModelOptions) {
    this.id = endpointId(options.model, options.baseURL);
    this.client = openAIClient(options);
  }

  async predict(request: string, base?: FlowWorkflow): Promise<FlowWorkflow> {
    const builder = new WorkflowBuilder(base);
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: AGENT_SYSTEM_PROMPT },
      { role: 'user', content: request },
    ];
    for (let turn = 0; turn < this.options.maxTurns; turn++) {
      const completion = await chatCompletion(
        this.client,
        {
          model: this.options.model,
          temperature: 0,
          messages,
          tools: FLOW_TOOLS as unknown as OpenAI.Chat.ChatCompletionTool[],
        },
        this.options.step,
      );
      const message = completion.choices[0]?.message;
      if (message === undefined) break;
      messages.push(message);
      const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
      if (calls.length === 0) break;
      for (const call of calls)
        messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(builder.apply(call.function.name, call.function.arguments)) });
    }
    return builder.workflow();
  }
}
