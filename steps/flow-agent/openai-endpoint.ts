import OpenAI from 'openai';
import { FlywheelError, type SpanFunction } from 'flywheel';

/** How to reach an OpenAI-compatible endpoint (the writer of synthesize and a served candidate share it). */
export interface EndpointOptions {
  /** Default api.openai.com. */
  baseURL: string | undefined;
  apiKey: string;
  /** Transport retries (429 honouring retry-after, 5xx, timeouts): done by the openai client. */
  maxRetries: number;
  timeoutMs: number;
  /** The calling step's `ctx.span`: each call becomes a span of its work in the run's trace. */
  span?: SpanFunction;
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
 * One chat completion, in a span of its own under the step's work when the step gave its `ctx.span`
 * (OpenTelemetry's GenAI conventions: the model asked for and the one that answered, tokens in and out
 * from the API's usage fields; the span's length is the latency).
 */
export async function chatCompletion(
  client: OpenAI,
  request: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
  span: SpanFunction | undefined,
): Promise<OpenAI.Chat.ChatCompletion> {
  if (span === undefined) return client.chat.completions.create(request);
  return span(
    `chat ${request.model}`,
    async (chat) => {
      const completion = await client.chat.completions.create(request);
      chat.setAttributes({
        'gen_ai.response.model': completion.model,
        'gen_ai.usage.input_tokens': completion.usage?.prompt_tokens,
        'gen_ai.usage.output_tokens': completion.usage?.completion_tokens,
      });
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
