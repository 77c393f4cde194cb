import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, file, FlywheelError, json, canonicalJson } from 'flywheel';
import { LlmMemo } from './llm-memo.js';
import { mapBounded } from 'flywheel';
import { FeedbackExample } from './mirror.js';
import { llmApiKey } from './openai-endpoint.js';
import { CollectedWorkflow } from './production-record.js';
import { MalformedOutputError, OfflineRequestWriter, OpenAIRequestWriter, PROMPT_VERSION, type RequestWriter } from './request-writer.js';
import { buildTrajectory, TRAJECTORY_FORMAT } from './trajectory.js';
import { validateFlow } from './validate-flow.js';

export const SynthesizeReport = z.object({
  writer: z.string(),
  offline: z.boolean(),
  promptVersion: z.string(),
  trajectoryFormat: z.string(),
  workflows: z.number().int(),
  examples: z.number().int(),
  llmCalls: z.number().int(),
  memoHits: z.number().int(),
  failures: z.array(z.object({ workflowId: z.string(), error: z.string() })),
  /** Examples from the mirroring feedback: real requests the last candidate lost, with the preferred workflow. */
  feedbackExamples: z.number().int().default(0),
  /** Feedback lines left out because their workflow does not validate. */
  feedbackInvalid: z.number().int().default(0),
});
export type SynthesizeReport = z.infer<typeof SynthesizeReport>;

/**
 * For each collected workflow, an LLM writes the merchant request that would lead to it; the ideal
 * tool-call trajectory from that request to the workflow is then built deterministically and written
 * as OpenAI chat fine-tuning JSONL. Answers are memoized across runs; malformed answers are asked
 * again and, if they stay malformed, counted as failures in the report (never a crash, never dropped
 * silently). `provider: offline` uses labelled templates instead of a model.
 */
export const synthesize = defineStep({
  id: 'flow-synthesize',
  version: 1,
  description: 'Write merchant requests with an LLM and build tool-call training trajectories',
  config: z.object({
    provider: z.enum(['offline', 'openai']).default('offline'),
    model: z.string().default('gpt-4.1-mini'),
    /** An OpenAI-compatible endpoint; default OPENAI_BASE_URL, else api.openai.com. */
    baseUrl: z.string().url().optional(),
    temperature: z.number().min(0).max(2).default(0.7),
    concurrency: z.number().int().min(1).max(64).default(4),
    maxRetries: z.number().int().min(0).max(10).default(4),
    malformedRetries: z.number().int().min(0).max(5).default(2),
    timeoutMs: z.number().int().min(1000).default(60_000),
    /** The step fails when more than this share of workflows could not be turned into examples. */
    maxFailureRate: z.number().min(0).max(1).default(0.2),
  }),
  inputs: { workflows: file(), feedback: file({ optional: true }) },
  outputs: { train: file({ fileName: 'train.jsonl' }), report: json(SynthesizeReport) },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, outputs, log, progress }) {
    const records = (await readFile(inputs.workflows, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => CollectedWorkflow.parse(JSON.parse(l)));
    let writer: RequestWriter;
    if (config.provider === 'offline') {
      writer = new OfflineRequestWriter(config.temperature);
      log.warn('provider offline: merchant requests come from templates (the offline stand-in), not from an LLM');
    } else {
      const apiKey = llmApiKey('flow-synthesize.provider=openai', '--set flow-synthesize.provider=offline');
      writer = new OpenAIRequestWriter({
        model: config.model,
        baseURL: config.baseUrl ?? process.env.OPENAI_BASE_URL,
        apiKey,
        temperature: config.temperature,
        maxRetries: config.maxRetries,
        malformedRetries: config.malformedRetries,
        timeoutMs: config.timeoutMs,
      });
    }
    const memo = new LlmMemo();
    let llmCalls = 0;
    let memoHits = 0;
    let done = 0;
    const failures: SynthesizeReport['failures'] = [];
    const lines = await mapBounded(records, config.concurrency, async (record, index) => {
      try {
        let request: string;
        if (writer.offline) {
          request = await writer.write(record.workflow, record.base, index);
        } else {
          const key = memo.key({
            writer: writer.id,
            prompt: PROMPT_VERSION,
            temperature: config.temperature,
            workflow: JSON.parse(canonicalJson(record.workflow)),
            base: record.base ?? null,
          });
          const remembered = await memo.get(key);
          if (remembered !== undefined) {
            memoHits++;
            request = remembered;
          } else {
            llmCalls++;
            request = await writer.write(record.workflow, record.base, index);
            await memo.put(key, request);
          }
        }
        return JSON.stringify(buildTrajectory(request, record.workflow, record.base));
      } catch (error) {
        const message = error instanceof MalformedOutputError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
        failures.push({ workflowId: record.workflow_id, error: message });
        log.warn({ workflowId: record.workflow_id, err: error }, 'no training example for this workflow');
        return undefined;
      } finally {
        progress({ fraction: ++done / records.length, message: `${done}/${records.length} workflows` });
      }
    });
    const examples = lines.filter((l): l is string => l !== undefined);
    // The flywheel: requests the candidate lost in mirroring come back as examples, with their real wording.
    const feedback =
      inputs.feedback === undefined
        ? []
        : (await readFile(inputs.feedback, 'utf8'))
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => FeedbackExample.parse(JSON.parse(l)));
    const usable = feedback.filter((f) => validateFlow(f.workflow).length === 0);
    for (const f of usable) examples.push(JSON.stringify(buildTrajectory(f.request, f.workflow, f.base)));
    if (records.length > 0 && failures.length / records.length > config.maxFailureRate) {
      throw new FlywheelError(
        'SYNTHESIS_FAILED',
        `${failures.length} of ${records.length} workflows got no training example (first: ${failures[0]?.error ?? ''})`,
        { fix: 'check the LLM endpoint and model, or raise flow-synthesize.maxFailureRate' },
      );
    }
    await writeFile(outputs.train, examples.map((l) => `${l}\n`).join(''));
    failures.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
    return {
      report: {
        writer: writer.id,
        offline: writer.offline,
        promptVersion: PROMPT_VERSION,
        trajectoryFormat: TRAJECTORY_FORMAT,
        workflows: records.length,
        examples: examples.length,
        llmCalls,
        memoHits,
        failures,
        feedbackExamples: usable.length,
        feedbackInvalid: feedback.length - usable.length,
      },
    };
  },
});
