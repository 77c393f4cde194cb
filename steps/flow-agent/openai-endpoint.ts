import OpenAI from 'openai';
import { FlywheelError, type SpanFunction, type StepUsage } from 'flywheel';

/** How to reach an OpenAI-compatible endpoint (the writer of synthesize and a served candidate share it). */
export interface EndpointOptions {
  /** Default api.openai.com. */
  baseURL: string | undefined;
  apiKey: string;
  /** Transport retries (429 honouring retry-after, 5xx, timeouts): done by the openai client. */
  maxRetries: number;
  timeoutMs: number;
  /** The calling step's context: each call becomes a span of its work in the run's trace, and its tokens the step's usage. */
  step?: LlmCaller;
}

/** What of a step's context an LLM call reports to: `ctx.span` and `ctx.usage`. */
export interface LlmCaller {
  span: SpanFunction;
  usage: StepUsage;
}

export function openAIClient(options: EndpointOptions): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey,
    ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
    maxRetries: options.maxRetries,
    timeout: options.timeoutMs,
  });
}

/**
 * One chat completion, reported to the calling step when it gave its context: a span of its own under
 * the step's work (OpenTelemetry's GenAI conventions: the model asked for and the one that answered,
 * tokens in and out from the API's usage fields; the span's length is the latency), and its tokens in
 * the step's usage under the model asked for (what a price table names). A reply without usage fields
 * counts as a call of zero tokens.
 */
export async function chatCompletion(
  client: OpenAI,
  request: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
  step: LlmCaller | undefined,
): Promise<OpenAI.Chat.ChatCompletion> {
  if (step === undefined) return client.chat.completions.create(request);
  return step.span(
    `chat ${request.model}`,
    async (chat) => {
      const completion = await client.chat.completions.create(request);
      const input = completion.usage?.prompt_tokens ?? 0;
      const output = completion.usage?.completion_tokens ?? 0;
      step.usage.tokens(request.model, { input, output });
      chat.setAttributes({ 'gen_ai.response.model': completion.model, 'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output });
      return completion;
    },
    { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': request.model, 'server.address': client.baseURL },
  );
}

/** Names a model behind an endpoint in reports and memo keys: `openai:<model>@<base URL>`. */
export function endpointId(model: string, baseURL: string | undefined): string {
  return `openai:${model}@${baseURL ?? 'api.openai.com'}`;
}

/** The API key from OPENAI_API_KEY or FLYWHEEL_LLM_API_KEY; `setting` names what asked for it, `otherwise` an alternative. */
export function llmApiKey(setting: string, otherwise?: string): string {
  const key = [process.env.OPENAI_API_KEY, process.env.FLYWHEEL_LLM_API_KEY].find((k) => k !== undefined && k !== '');
  if (key === undefined) {
    throw new FlywheelError('LLM_KEY_MISSING', `${setting} needs an API key`, {
      retryable: false,
      fix: `set OPENAI_API_KEY (or FLYWHEEL_LLM_API_KEY)${otherwise === undefined ? '' : `, or ${otherwise}`}`,
    });
  }
  return key;
}
