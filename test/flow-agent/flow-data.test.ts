import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchmarkExample } from '../../steps/flow-agent/benchmark-generator.js';
import type { ProductionRecord } from '../../steps/flow-agent/production-record.js';
import { ACTIONS } from '../../steps/flow-agent/flow-catalog.js';
import { flowFixtureData, toJsonl, trafficFixture } from '../../steps/flow-agent/fixture-data.js';
import { validateFlow } from '../../steps/flow-agent/validate-flow.js';
import { workflowDescriptor } from '../../steps/flow-agent/workflow-descriptor.js';
import { REPO } from '../support/cli.js';

const DATA = join(REPO, 'data', 'flow-agent');
const readJsonl = async <T>(name: string): Promise<T[]> =>
  (await readFile(join(DATA, name), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as T);

describe('flow-agent fixture data', () => {
  it('is exactly what the seeded generators produce (regenerate with scripts/generate-flow-data.ts)', async () => {
    const { corpus, benchmark } = flowFixtureData();
    expect(await readFile(join(DATA, 'production-workflows.jsonl'), 'utf8')).toBe(toJsonl(corpus));
    expect(await readFile(join(DATA, 'benchmark.jsonl'), 'utf8')).toBe(toJsonl(benchmark));
    expect(await readFile(join(DATA, 'traffic.jsonl'), 'utf8')).toBe(toJsonl(trafficFixture()));
  });

  it('is a realistic production export: many merchants, trigger and action kinds, edits, email and third-party, run dates', async () => {
    const corpus = await readJsonl<ProductionRecord>('production-workflows.jsonl');
    expect(corpus.length).toBeGreaterThan(500);
    for (const record of corpus) expect(validateFlow(record.workflow), record.workflow_id).toEqual([]);
    const tasks = corpus.flatMap((r) => r.workflow.steps);
    expect(new Set(tasks.filter((s) => s.task_type === 'TRIGGER').map((s) => s.task_id)).size).toBeGreaterThanOrEqual(30);
    const actionIds = new Set(ACTIONS.map((a) => a.taskId));
    expect(new Set(tasks.filter((s) => actionIds.has(s.task_id)).map((s) => s.task_id)).size).toBeGreaterThanOrEqual(20);
    expect(new Set(corpus.map((r) => r.merchant_id)).size).toBeGreaterThan(200);
    const edits = corpus.filter((r) => r.kind === 'edit');
    expect(edits.length).toBeGreaterThan(30);
    for (const edit of edits) expect(corpus.some((r) => r.workflow_id === edit.edit_of)).toBe(true);
    expect(tasks.some((s) => s.task_id === 'shopify::flow::send_internal_email')).toBe(true);
    expect(tasks.some((s) => s.task_id.startsWith('klaviyo::') || s.task_id.startsWith('slack::'))).toBe(true);
    expect(corpus.some((r) => r.last_run_at === null)).toBe(true);
    expect(corpus.filter((r) => r.last_run_at !== null).every((r) => !Number.isNaN(Date.parse(r.last_run_at as string)))).toBe(true);
  });

  it('holds out 300 benchmark examples that share no workflow with the training side', async () => {
    const corpus = await readJsonl<ProductionRecord>('production-workflows.jsonl');
    const benchmark = await readJsonl<BenchmarkExample>('benchmark.jsonl');
    expect(benchmark).toHaveLength(300);
    const training = new Set(corpus.map((r) => workflowDescriptor(r.workflow)));
    for (const example of benchmark) {
      expect(validateFlow(example.expected)).toEqual([]);
      expect(workflowDescriptor(example.expected)).toBe(example.descriptor);
      expect(training.has(example.descriptor), `${example.id} leaks a training workflow`).toBe(false);
      if (example.base) expect(training.has(workflowDescriptor(example.base))).toBe(false);
      expect(example.request.length).toBeGreaterThan(20);
    }
    expect(new Set(benchmark.map((e) => e.descriptor)).size).toBe(300);
    // The slices a hand-written benchmark missed are all represented.
    expect(benchmark.filter((e) => e.slices.kind === 'edit').length).toBeGreaterThan(30);
    expect(benchmark.filter((e) => e.slices.email).length).toBeGreaterThan(20);
    expect(benchmark.filter((e) => e.slices.thirdParty).length).toBeGreaterThan(20);
  });
});
