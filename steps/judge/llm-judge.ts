import type OpenAI from 'openai';
import { z } from 'zod';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { LlmMemo } from '../flow-agent/llm-memo.js';
import { mapBounded } from '../flow-agent/map-bounded.js';
import { endpointId, openAIClient, type EndpointOptions } from '../flow-agent/openai-endpoint.js';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';
import { specDigest, type JudgeSpec } from './judge-spec.js';

const Verdict = z.object({ label: z.enum(JUDGE_LABELS), reason: z.string() });

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
    { role: 'system', content: `You grade workflows that an automation agent built for Shopify merchants. ${spec.rubric}\nLabels, worst to best: ${spec.labels.join(', ')}. Answer only with JSON: {"label": "<label>", "reason": "<one sentence>"}.` },
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
      const key = this.memo?.key({ judge: this.id, spec: digest, request: item.request, output: item.output });
      const remembered = key === undefined ? undefined : await this.memo?.get(key);
      if (remembered !== undefined) {
        this.stats.memoHits += 1;
        return Verdict.parse(JSON.parse(remembered)).label;
      }
      for (let attempt = 0; attempt <= this.options.malformedRetries; attempt++) {
        this.stats.calls += 1;
        const completion = await this.client.chat.completions.create({ model: this.options.model, temperature: spec.temperature, messages: judgePrompt(spec, item.request, item.output), response_format: { type: 'json_object' } });
        const answer = completion.choices[0]?.message?.content ?? '';
        try {
          const verdict = Verdict.safeParse(JSON.parse(answer));
          if (verdict.success) {
            if (key !== undefined) await this.memo?.put(key, JSON.stringify(verdict.data));
            return verdict.data.label;
          }
        } catch {
          // not JSON: ask again
        }
      }
      this.stats.malformed += 1;
      return null;
    });
  }
}
