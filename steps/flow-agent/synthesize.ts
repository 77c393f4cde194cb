import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, file, json } from 'flywheel';
import { FeedbackExample } from './feedback.js';
import { CollectedWorkflow } from './production-record.js';
import { PROMPT_VERSION } from './request-writer.js';
import { SynthesizedExample } from './synthesize-workflow.js';
import { buildTrajectory, TRAJECTORY_FORMAT } from './trajectory.js';
import { validateFlow } from './validate-flow.js';

export { offlineVariant, SynthesizedExample, synthesizeWorkflow } from './synthesize-workflow.js';

/**
 * The map's share of workflows that must get an example, else the run fails (the old maxFailureRate
 * default, 0.2, turned around). Below 1, a workflow whose request could not be written is left out of
 * this run's training data, listed in the report, and retried alone by the next run.
 */
export const SYNTHESIZE_MIN_SUCCESS_RATIO = 0.8;

export const SynthesizeReport = z.object({
  /** The request writer of the examples (ids joined with ", " if cached elements came from several), `none` without any. */
  writer: z.string(),
  offline: z.boolean(),
  promptVersion: z.string(),
  trajectoryFormat: z.string(),
  workflows: z.number().int(),
  examples: z.number().int(),
  /** Examples whose request an LLM call wrote, when their element was computed (this run or a cached earlier one). */
  llmCalls: z.number().int(),
  /** Examples whose request came from the LLM memo when their element was computed. */
  memoHits: z.number().int(),
  /** Collected workflows without an example: their element failed (the run record of the map names the error). */
  failures: z.array(z.object({ workflowId: z.string(), error: z.string() })),
  /** Examples from the mirroring feedback: real requests the last candidate lost, with the preferred workflow. */
  feedbackExamples: z.number().int().default(0),
  /** Feedback lines left out because their workflow does not validate. */
  feedbackInvalid: z.number().int().default(0),
});
export type SynthesizeReport = z.infer<typeof SynthesizeReport>;

const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);

/**
 * Gathers the per-workflow examples (`synthesizeWorkflow`, mapped over the collected workflows) into the
 * training set: train.jsonl in the collected order, then the mirroring feedback's examples (requests the
 * last candidate lost, with their real wording). The report counts how the requests were written and
 * lists every collected workflow the map left without an example (never dropped silently).
 */
export const synthesize = defineStep({
  id: 'flow-synthesize',
  version: 2,
  description: 'Gather the synthesized tool-call trajectories and the mirroring feedback into the training set',
  inputs: { workflows: file(), examples: file(), feedback: file({ optional: true }) },
  outputs: { train: file({ fileName: 'train.jsonl' }), report: json(SynthesizeReport) },
  async run({ inputs, outputs, log }) {
    const records = jsonLines(await readFile(inputs.workflows, 'utf8')).map((l) => CollectedWorkflow.parse(l));
    const synthesized = jsonLines(await readFile(inputs.examples, 'utf8')).map((l) => SynthesizedExample.parse(l));
    const examples = synthesized.map((e) => e.line);
    const got = new Set(synthesized.map((e) => e.workflowId));
    const failures = records
      .filter((r) => !got.has(r.workflow_id))
      .map((r) => ({ workflowId: r.workflow_id, error: 'no training example: its element failed (see the map in the run record); the next run retries it' }))
      .sort((a, b) => a.workflowId.localeCompare(b.workflowId));
    if (failures.length > 0) log.warn({ workflows: failures.map((f) => f.workflowId) }, `${failures.length} workflows got no training example this run`);
    const writers = [...new Set(synthesized.map((e) => e.writer))].sort();
    const offline = synthesized.length === 0 || synthesized.every((e) => e.offline);
    if (offline && synthesized.length > 0) log.warn('merchant requests come from templates (the offline stand-in), not from an LLM');
    const feedback = inputs.feedback === undefined ? [] : jsonLines(await readFile(inputs.feedback, 'utf8')).map((l) => FeedbackExample.parse(l));
    const usable = feedback.filter((f) => validateFlow(f.workflow).length === 0);
    for (const f of usable) examples.push(JSON.stringify(buildTrajectory(f.request, f.workflow, f.base)));
    await writeFile(outputs.train, examples.map((l) => `${l}\n`).join(''));
    return {
      report: {
        writer: writers.length === 0 ? 'none' : writers.join(', '),
        offline,
        promptVersion: PROMPT_VERSION,
        trajectoryFormat: TRAJECTORY_FORMAT,
        workflows: records.length,
        examples: examples.length,
        llmCalls: synthesized.filter((e) => e.request === 'llm').length,
        memoHits: synthesized.filter((e) => e.request === 'memo').length,
        failures,
        feedbackExamples: usable.length,
        feedbackInvalid: feedback.length - usable.length,
      },
    };
  },
});
