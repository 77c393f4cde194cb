import { z } from 'zod';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { llmApiKey, type LlmCaller } from '../flow-agent/openai-endpoint.js';
import type { JudgeLabel } from './calibration-generator.js';
import type { JudgeSpec } from './judge-spec.js';
import { LlmJudge } from './llm-judge.js';
import { OFFLINE_JUDGE_ID, offlineJudge } from './offline-judge.js';
import { offlinePairJudge, type PairJudge } from './pairwise-judge.js';

export const OFFLINE_MODEL = 'offline-rules';

/** Config fields of every step that asks a judge: where, how many at once, how patiently. */
export const JUDGE_ENDPOINT_CONFIG = {
  /** The endpoint, ending in /v1; default OPENAI_BASE_URL. */
  baseUrl: z.string().url().optional(),
  concurrency: z.number().int().min(1).max(64).default(8),
  malformedRetries: z.number().int().min(0).max(5).default(2),
  maxRetries: z.number().int().min(0).max(10).default(4),
  timeoutMs: z.number().int().positive().default(60_000),
};

export interface EndpointSettings {
  baseUrl?: string | undefined;
  concurrency: number;
  malformedRetries: number;
  maxRetries: number;
  timeoutMs: number;
  /** Remember verdicts across runs (default true). */
  memo?: boolean;
}

export interface JudgeRunner {
  id: string;
  offline: boolean;
  judge(spec: JudgeSpec, items: ReadonlyArray<{ request: string; output: FlowWorkflow }>): Promise<Array<JudgeLabel | null>>;
  comparePair: PairJudge;
  stats(): Record<string, number>;
}

/** The judge a spec names: the offline rules (labelled offline), or its model behind an OpenAI-compatible endpoint. */
export function judgeRunner(model: string, settings: EndpointSettings, setting: string, step?: LlmCaller): JudgeRunner {
  if (model === OFFLINE_MODEL) {
    return {
      id: OFFLINE_JUDGE_ID,
      offline: true,
      // No model answers: the step's usage says so (calls, no tokens) rather than counting a free model.
      judge: (spec, items) => {
        step?.usage.tokens(OFFLINE_JUDGE_ID, { input: 0, output: 0, calls: items.length, offline: true });
        return Promise.resolve(items.map((i) => offlineJudge(i.request, i.output, spec).label));
      },
      comparePair: (...args) => {
        step?.usage.tokens(OFFLINE_JUDGE_ID, { input: 0, output: 0, offline: true });
        return offlinePairJudge(...args);
      },
      stats: () => ({}),
    };
  }
  const llm = new LlmJudge({
    model,
    baseURL: settings.baseUrl ?? process.env.OPENAI_BASE_URL,
    apiKey: llmApiKey(setting, `--set ${setting.split('=')[0] ?? ''}=${OFFLINE_MODEL}`),
    concurrency: settings.concurrency,
    malformedRetries: settings.malformedRetries,
    maxRetries: settings.maxRetries,
    timeoutMs: settings.timeoutMs,
    ...(settings.memo === false ? { memo: false as const } : {}),
    ...(step === undefined ? {} : { step }),
  });
  return {
    id: llm.id,
    offline: false,
    judge: (spec, items) => llm.judge(spec, items),
    comparePair: (spec, request, a, b) => llm.comparePair(spec, request, a, b),
    stats: () => ({ ...llm.stats }),
  };
}
