import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, defineStep, FlywheelError, json } from 'flywheel';
import { LlmMemo } from './llm-memo.js';
import { llmApiKey } from './openai-endpoint.js';
import { CollectedWorkflow } from './production-record.js';
import { MalformedOutputError, OfflineRequestWriter, OpenAIRequestWriter, PROMPT_VERSION, type RequestWriter } from './request-writer.js';
import { buildTrajectory } from './trajectory.js';

/** One workflow's training example, as the map over the collected workflows stores it (one JSON Lines line each). */
export const SynthesizedExample = z.object({
  workflowId: z.string(),
  /** The training example: one line of train.jsonl, as JSON text (the trajectory's own key order). */
  line: z.string(),
  /** The request writer (provider and model), or the offline stand-in's id. */
  writer: z.string(),
  offline: z.boolean(),
  /** Where the merchant request came from when this element was computed: a template, an LLM call, or the LLM memo. */
  request: z.enum(['offline', 'llm', 'memo']),
});
export type SynthesizedExample = z.infer<typeof SynthesizedExample>;

/**
 * The offline writer's phrasing variant for a workflow: from its id, never from its position in the
 * export, so adding or removing other workflows leaves this element's cache key and result alone.
 */
export function offlineVariant(workflowId: string): number {
  return createHash('sha256').update(workflowId).digest().readUInt32BE(0) % 100_000;
}

/**
 * One collected workflow → one training example, mapped over `collect`'s workflows (`p.map`, one
 * element and one cache entry per workflow): an LLM writes the merchant request that would lead to
 * the workflow, and the ideal tool-call trajectory from that request to the workflow is built
 * deterministically. An answer that stays malformed after `malformedRetries` throws: the element is
 * not cached, the map leaves it out (within its minSuccessRatio) and the next run asks again for it alone.
 * `provider: offline` uses labelled templates instead of a model.
 */
export const synthesizeWorkflow = defineStep({
  id: 'flow-synthesize-workflow',
  version: 1,
  description: "Write one workflow's merchant request with an LLM and build its tool-call training trajectory",
  config: z.object({
    provider: z.enum(['offline', 'openai']).default('offline'),
    model: z.string().default('gpt-4.1-mini'),
    /** An OpenAI-compatible endpoint; default OPENAI_BASE_URL, else api.openai.com. */
    baseUrl: z.string().url().optional(),
    temperature: z.number().min(0).max(2).default(0.7),
    maxRetries: z.number().int().min(0).max(10).default(4),
    malformedRetries: z.number().int().min(0).max(5).default(2),
    timeoutMs: z.number().int().min(1000).default(60_000),
  }),
  inputs: { workflow: json(CollectedWorkflow) },
  outputs: { example: json(SynthesizedExample) },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, span, usage }) {
    const record = inputs.workflow;
    let writer: RequestWriter;
    if (config.provider === 'offline') {
      writer = new OfflineRequestWriter(config.temperature);
    } else {
      const apiKey = llmApiKey('synthesize-each.provider=openai', '--set synthesize-each.provider=offline');
      writer = new OpenAIRequestWriter({
        model: config.model,
        baseURL: config.baseUrl ?? process.env.OPENAI_BASE_URL,
        apiKey,
        temperature: config.temperature,
        maxRetries: config.maxRetries,
        malformedRetries: config.malformedRetries,
        timeoutMs: config.timeoutMs,
        step: { span, usage },
      });
    }
    let request: string;
    let source: SynthesizedExample['request'];
    if (writer.offline) {
      request = await writer.write(record.workflow, record.base, offlineVariant(record.workflow_id));
      source = 'offline';
      usage.tokens(writer.id, { input: 0, output: 0, offline: true });
    } else {
      // The memo still adds something next to the per-element cache: the element's key also covers this
      // step's code (the trajectory builder), the whole production record and settings such as timeoutMs
      // and maxRetries, none of which change the LLM's answer. When one of them changes every element
      // re-runs, and the memo (keyed only by what the request depends on) spares the LLM calls.
      const memo = new LlmMemo();
      const key = memo.key({
        writer: writer.id,
        prompt: PROMPT_VERSION,
        temperature: config.temperature,
        workflow: JSON.parse(canonicalJson(record.workflow)) as unknown,
        base: record.base ?? null,
      });
      const remembered = await memo.get(key);
      if (remembered !== undefined) {
        request = remembered;
        source = 'memo';
      } else {
        try {
          request = await writer.write(record.workflow, record.base, 0);
        } catch (error) {
          if (!(error instanceof MalformedOutputError)) throw error;
          throw new FlywheelError('LLM_OUTPUT_MALFORMED', `workflow ${record.workflow_id}: ${error.message}`, {
            fix: 'check the model and prompt; the next run asks again for this workflow only',
            retryable: false,
          });
        }
        await memo.put(key, request);
        source = 'llm';
      }
    }
    return {
      example: {
        workflowId: record.workflow_id,
        line: JSON.stringify(buildTrajectory(request, record.workflow, record.base)),
        writer: writer.id,
        offline: writer.offline,
        request: source,
      },
    };
  },
});
