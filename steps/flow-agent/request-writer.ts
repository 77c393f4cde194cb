import type OpenAI from 'openai';
import { z } from 'zod';
import type { FlowWorkflow } from './flow-workflow.js';
import { OFFLINE_WRITER_ID, offlineRequest } from './offline-request-writer.js';
import { chatCompletion, endpointId, openAIClient, type EndpointOptions } from './openai-endpoint.js';

/** Bump when the prompt changes: memoized requests of the old prompt are then not reused. */
export const PROMPT_VERSION = 'merchant-request/v1';

/** Writes the merchant request that would lead to a workflow. */
export interface RequestWriter {
  /** Identity of the writer (provider and model): part of every memo key. */
  readonly id: string;
  readonly offline: boolean;
  write(workflow: FlowWorkflow, base: FlowWorkflow | undefined, index: number): Promise<string>;
}

/** The labelled offline stand-in: templates, no key, no network. */
export class OfflineRequestWriter implements RequestWriter {
  readonly id = OFFLINE_WRITER_ID;
  readonly offline = true;
  /** The temperature picks other phrasings, as sampling would: a different value writes different requests. */
  constructor(private readonly temperature: number) {}
  write(workflow: FlowWorkflow, base: FlowWorkflow | undefined, index: number): Promise<string> {
    return Promise.resolve(offlineRequest(workflow, index + Math.round(this.temperature * 1000), base));
  }
}

/** Output the model must produce; anything else is malformed and asked for again. */
const WrittenRequest = z.object({ request: z.string().trim().min(10).max(2000) });

export class MalformedOutputError extends Error {
  constructor(
    readonly attempts: number,
    readonly last: string,
  ) {
    super(`the model's answer stayed malformed after ${attempts} attempts (last: ${JSON.stringify(last.slice(0, 120))})`);
    this.name = 'MalformedOutputError';
  }
}

export interface OpenAIWriterOptions extends EndpointOptions {
  model: string;
  temperature: number;
  /** Extra attempts when the answer is not the JSON asked for. */
  malformedRetries: number;
}

/** Any OpenAI-compatible chat completions endpoint. */
export class OpenAIRequestWriter implements RequestWriter {
  readonly id: string;
  readonly offline = false;
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAIWriterOptions) {
    this.id = endpointId(options.model, options.baseURL);
    this.client = openAIClient(options);
  }

  async write(workflow: FlowWorkflow, base: FlowWorkflow | undefined): Promise<string> {
    const task =
      base === undefined
        ? 'Write the request a merchant would type to get exactly this workflow built.'
        : `The merchant already has the workflow ${JSON.stringify(base)}. Write the request they would type to change it into the target.`;
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      {
        role: 'system',
        content: `You write realistic requests from Shopify merchants to an automation assistant (${PROMPT_VERSION}). Plain language, one to three sentences, no JSON terms or task ids. Answer only with JSON: {"request": "..."}.`,
      },
      { role: 'user', content: `${task}\nTarget workflow: ${JSON.stringify(workflow)}` },
    ];
    let last = '';
    for (let attempt = 1; attempt <= this.options.malformedRetries + 1; attempt++) {
      const completion = await chatCompletion(
        this.client,
        {
          model: this.options.model,
          temperature: this.options.temperature,
          messages,
          response_format: { type: 'json_object' },
        },
        this.options.step,
      );
      last = completion.choices[0]?.message?.content ?? '';
      try {
        const parsed = WrittenRequest.safeParse(JSON.parse(last));
        if (parsed.success) return parsed.data.request;
      } catch {
        // not JSON: ask again
      }
    }
    throw new MalformedOutputError(this.options.malformedRetries + 1, last);
  }
}
