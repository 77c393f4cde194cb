import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json } from 'flywheel';
import { FlowWorkflow } from './flow-workflow.js';
import { mapBounded } from 'flywheel';
import { llmApiKey } from './openai-endpoint.js';
import { predictWorkflow, RetrievalModel } from './retrieval-model.js';
import { ServedModelRef } from './serve-adapter.js';
import { ServedWorkflowModel } from './served-model.js';
import { type ReportBlock, writeReport } from '../report-document.js';
import { METRICS, scoreExample, SliceTags, summarize, summarizeBySlice } from './score-workflow.js';

const BenchmarkLine = z.object({
  id: z.string(),
  request: z.string(),
  base: FlowWorkflow.optional(),
  expected: FlowWorkflow,
  slices: SliceTags,
});

const Summary = z.object({
  examples: z.number().int(),
  valid: z.number().nullable(),
  trigger: z.number().nullable(),
  conditionOperators: z.number().nullable(),
  actionF1: z.number().nullable(),
  exact: z.number().nullable(),
  /** 95% intervals per metric (absent in metrics recorded by older versions, e.g. in the registry). */
  ci: z.record(z.string(), z.tuple([z.number(), z.number()]).nullable()).optional(),
});
export const EvaluationMetrics = z.object({
  model: z.string(),
  offlineStandIn: z.boolean(),
  failedPredictions: z.number().int().default(0),
  overall: Summary,
  slices: z.record(z.string(), Summary),
});
export type EvaluationMetrics = z.infer<typeof EvaluationMetrics>;

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);

function table(rows: Array<[string, z.infer<typeof Summary>]>): string[][] {
  return [['slice', 'examples', ...METRICS], ...rows.map(([name, s]) => [name, String(s.examples), ...METRICS.map((m) => pct(s[m]))])];
}

/** The candidate on the held-out benchmark: deterministic metrics overall and per slice, as Markdown and HTML. */
export const evaluate = defineStep({
  id: 'flow-evaluate',
  version: 4,
  description: 'Score the candidate model on the held-out benchmark, per slice',
  config: z.object({
    /** `local`: the model file from train (the offline stand-in); `openai`: a served model behind an OpenAI-compatible endpoint. */
    serving: z.enum(['local', 'openai']).default('local'),
    servedModel: z.string().default('flow-agent'),
    baseUrl: z.string().url().optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    maxTurns: z.number().int().min(1).max(100).default(24),
  }),
  inputs: { model: file({ optional: true }), benchmark: file(), served: json(ServedModelRef, { optional: true }) },
  /** predictions: one line per benchmark example (request, the candidate's workflow or null, slices, its scores): for the judge, and for paired comparisons of two runs. */
  outputs: { report: dir(), metrics: json(EvaluationMetrics), predictions: file({ fileName: 'predictions.jsonl' }) },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, outputs, progress, log, span, usage }) {
    const examples = (await readFile(inputs.benchmark, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => BenchmarkLine.parse(JSON.parse(l)));
    let candidate: { id: string; offline: boolean; predict: (request: string, base: FlowWorkflow | undefined) => Promise<FlowWorkflow | undefined> };
    if (config.serving === 'openai' || inputs.served !== undefined) {
      // A candidate loaded by the serve step names its own endpoint and model.
      const apiKey = llmApiKey('flow-evaluate.serving=openai');
      const served = new ServedWorkflowModel({
        baseURL: inputs.served?.baseUrl ?? config.baseUrl ?? process.env.OPENAI_BASE_URL,
        model: inputs.served?.model ?? config.servedModel,
        apiKey,
        maxTurns: config.maxTurns,
        maxRetries: 4,
        timeoutMs: 120_000,
        step: { span, usage },
      });
      candidate = { id: served.id, offline: false, predict: (request, base) => served.predict(request, base) };
    } else {
      if (inputs.model === undefined)
        throw new FlywheelError('MODEL_MISSING', 'flow-evaluate.serving=local needs the model input', {
          retryable: false,
          fix: "wire the train step's model output to evaluate, or set serving=openai",
        });
      const model = RetrievalModel.parse(JSON.parse(await readFile(inputs.model, 'utf8')));
      candidate = { id: model.format, offline: true, predict: (request) => Promise.resolve(predictWorkflow(model, request)) };
      usage.tokens(model.format, { input: 0, output: 0, calls: examples.length, offline: true });
    }
    let failedPredictions = 0;
    let done = 0;
    const results = await mapBounded(examples, config.concurrency, async (example) => {
      let predicted: FlowWorkflow | undefined;
      try {
        predicted = await candidate.predict(example.request, example.base);
      } catch (error) {
        failedPredictions++;
        log.warn({ example: example.id, err: error }, 'the candidate gave no answer; scored as wrong');
      }
      if (++done % 50 === 0) progress({ fraction: done / examples.length, message: `${done}/${examples.length} examples` });
      return {
        id: example.id,
        request: example.request,
        predicted: predicted ?? null,
        slices: example.slices,
        scores: scoreExample(predicted, example.expected),
      };
    });
    const metrics: EvaluationMetrics = {
      model: candidate.id,
      offlineStandIn: candidate.offline,
      failedPredictions,
      overall: summarize(results.map((r) => r.scores)),
      slices: summarizeBySlice(results),
    };
    const title = `Benchmark report — ${metrics.model}${metrics.offlineStandIn ? ' (offline stand-in model)' : ''}`;
    const blocks: ReportBlock[] = [
      { kind: 'heading', level: 1, text: title },
      {
        kind: 'paragraph',
        text: `${examples.length} held-out examples${failedPredictions > 0 ? `; ${failedPredictions} got no answer (scored as wrong)` : ''}.`,
      },
      { kind: 'table', rows: table([['overall', metrics.overall], ...Object.entries(metrics.slices)]) },
    ];
    await writeFile(
      outputs.predictions,
      results.map((r) => `${JSON.stringify({ id: r.id, request: r.request, prediction: r.predicted, slices: r.slices, scores: r.scores })}\n`).join(''),
    );
    await writeReport(outputs.report, title, blocks);
    return { metrics };
  },
});
