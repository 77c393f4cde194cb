import type OpenAI from 'openai';
import { z } from 'zod';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { LlmMemo } from '../flow-agent/llm-memo.js';
import { mapBounded } from 'flywheel';
import { chatCompletion, endpointId, openAIClient, type EndpointOptions } from '../flow-agent/openai-endpoint.js';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';
import { specDigest, type JudgeSpec } from './judge-spec.js';

const Verdict = z.object({ label: z.enum(JUDGE_LABELS), reason: z.string() });
const PairVerdict = z.object({ better: z.enum(['A', 'B', 'tie']), reason: z.string() });

export interface LlmJudgeOptions extends EndpointOptions {
  concurrency: number;
  /** Extra asks when an answer is not the JSON verdict; then the item counts as unjudged. */
  malformedRetries: number;
  /** false: always ask (e.g. to notice a provider changing the model behind a name). */
  memo?: LlmMemo | false;
}

export interface LlmJudgeStats {
  calls: number;
  memoHits: number;
  malformed: number;
}

/** The prompt for one judgement: rubric and label scale, the few-shot examples as earlier turns, then the item. */
export function judgePrompt(spec: JudgeSpec, request: string, output: FlowWorkflow): OpenAI.Chat.ChatCompletionMessageParam[] {
  const item = (r: string, o: FlowWorkflow): string => `Merchant request:\n${r}\n\nWorkflow the agent built:\n${JSON.stringify(o)}`;
  return [
    {
      role: 'system',
      content: `You grade workflows that an automation agent built for Shopify merchants. ${spec.rubric}\nLabels, worst to best: ${spec.labels.join(', ')}. Answer only with JSON: {"label": "<label>", "reason": "<one sentence>"}.`,
    },
    ...spec.fewShot.flatMap((e): OpenAI.Chat.ChatCompletionMessageParam[] => [
      { role: 'user', content: item(e.request, e.output) },
      { role: 'assistant', content: JSON.stringify({ label: e.label, reason: e.explanation }) },
    ]),
    { role: 'user', content: item(request, output) },
  ];
}

/**
 * A judge behind an OpenAI-compatible endpoint. Every verdict is memoized by (endpoint, spec digest,
 * item), so re-scoring the calibration set with an unchanged spec costs nothing; an answer that is
 * not a valid verdict is asked again, then counted as unjudged (null), never guessed.
 */
export class LlmJudge {
  readonly id: string;
  readonly stats: LlmJudgeStats = { calls: 0, memoHits: 0, malformed: 0 };
  private readonly client: OpenAI;
  private readonly memo: LlmMemo | undefined;

  constructor(private readonly options: LlmJudgeOptions & { model: string }) {
    this.id = endpointId(options.model, options.baseURL);
    this.client = openAIClient(options);
    this.memo = options.memo === false ? undefined : (options.memo ?? new LlmMemo());
  }

  async judge(spec: JudgeSpec, items: ReadonlyArray<{ request: string; output: FlowWorkflow }>): Promise<Array<JudgeLabel | null>> {
    const digest = specDigest(spec);
    return mapBounded(items, this.options.concurrency, async (item) => {
      const verdict = await this.ask(Verdict, judgePrompt(spec, item.request, item.output), spec.temperature, {
        spec: digest,
        request: item.request,
        output: item.output,
      });
      return verdict?.label ?? null;
    });
  }

  /** Which of two workflows (A, B) better fulfils the request, under the spec's rubric; null when no valid answer came. */
  async comparePair(spec: JudgeSpec, request: string, a: FlowWorkflow | null, b: FlowWorkflow | null): Promise<'A' | 'B' | 'tie' | null> {
    const show = (w: FlowWorkflow | null): string => (w === null ? '(no workflow)' : JSON.stringify(w));
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      {
        role: 'system',
        content: `You compare two workflows that automation agents built for the same Shopify merchant request. ${spec.rubric}\nAnswer only with JSON: {"better": "A" | "B" | "tie", "reason": "<one sentence>"}.`,
      },
      { role: 'user', content: `Merchant request:\n${request}\n\nWorkflow A:\n${show(a)}\n\nWorkflow B:\n${show(b)}` },
    ];
    return (await this.ask(PairVerdict, messages, spec.temperature, { spec: specDigest(spec), pair: messages }))?.better ?? null;
  }

  /** One JSON answer of the given shape: from the memo, or asked (again while malformed); undefined if it never came. */
  private async ask<T>(
    shape: z.ZodType<T>,
    messages: OpenAI.Chat.ChatCompletionMessageParam[],
    temperature: number,
    memoParts: Record<string, unknown>,
  ): Promise<T | undefined> {
    const key = this.memo?.key({ judge: this.id, ...memoParts });
    const remembered = key === undefined ? undefined : await this.memo?.get(key);
    if (remembered !== undefined) {
      this.stats.memoHits += 1;
      return shape.parse(JSON.parse(remembered));
    }
    for (let attempt = 0; attempt <= this.options.malformedRetries; attempt++) {
      this.stats.calls += 1;
      const completion = await chatCompletion(
        this.client,
        {
          model: this.options.model,
          temperature,
          messages,
          response_format: { type: 'json_object' },
        },
        this.options.step,
      );
      try {
        const parsed = shape.safeParse(JSON.parse(completion.choices[0]?.message?.content ?? ''));
        if (parsed.success) {
          if (key !== undefined) await this.memo?.put(key, JSON.stringify(parsed.data));
          return parsed.data;
        }
      } catch {
        // not JSON: ask again
      }
    }
    this.stats.malformed += 1;
    return undefined;
  }
}
