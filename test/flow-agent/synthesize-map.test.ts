import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CollectedWorkflow } from '../../steps/flow-agent/production-record.js';
import { elementsOf, runCli, runJson, statuses } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const EXPORT = fileURLToPath(new URL('../../data/flow-agent/production-workflows.jsonl', import.meta.url));

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

describe('the flow-agent pipeline synthesizes one element per workflow', () => {
  it('one changed workflow in the production export: exactly one synthesize element executes, the rest are hits', async () => {
    const cwd = await tempDir('flow-agent-map');
    const env = { OPENAI_API_KEY: '' };
    const ws = { cwd, env };
    const output = async (ref: string): Promise<string> => {
      const result = await runCli(['output', ref], ws);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    };

    const first = await runJson('flow-agent', [], ws);
    expect(first.code, first.stderr).toBe(0);
    const collected = lines(await output('collect.workflows')).map((l) => JSON.parse(l) as CollectedWorkflow);
    expect(await elementsOf(first.run.runId, 'synthesize-each', ws)).toMatchObject({
      total: collected.length,
      executed: collected.length,
      cached: 0,
      failed: 0,
    });
    const trainBefore = lines(await output('synthesize.train'));
    const reportBefore = JSON.parse(await output('synthesize.report')) as { workflows: number; examples: number; failures: unknown[] };
    expect(reportBefore).toMatchObject({ workflows: collected.length, failures: [] });
    const modelBefore = first.run.steps.find((s) => s.id === 'train')?.outputs;

    // Rename one collected workflow that no edit builds on (so no other element's base changes with it).
    const bases = new Set(collected.map((r) => r.edit_of));
    const index = collected.findIndex((r) => r.kind === 'create' && !bases.has(r.workflow_id));
    const target = collected[index] as CollectedWorkflow;
    expect(index).toBeGreaterThanOrEqual(0);
    let renamed = 0;
    const copy = lines(await readFile(EXPORT, 'utf8')).map((line) => {
      const record = JSON.parse(line) as CollectedWorkflow;
      if (record.workflow_id !== target.workflow_id) return line;
      renamed++;
      return JSON.stringify({ ...record, workflow: { ...record.workflow, name: `${record.workflow.name} (renamed)` } });
    });
    expect(renamed).toBe(1);
    const exportCopy = join(cwd, 'production-copy.jsonl');
    await writeFile(exportCopy, copy.map((l) => `${l}\n`).join(''));

    const changed = await runJson('flow-agent', ['--set', `production.source=${exportCopy}`], ws);
    expect(changed.code, changed.stderr).toBe(0);
    expect(await elementsOf(changed.run.runId, 'synthesize-each', ws)).toMatchObject({
      total: collected.length,
      executed: 1,
      cached: collected.length - 1,
      failed: 0,
      executedIndices: String(index),
    });
    expect(changed.run.steps.find((s) => s.id === 'synthesize-each')?.reason).toContain(`1 to run (element ${index} changed)`);
    expect(statuses(changed.run)).toEqual({
      // Downstream of the changed export: the snapshot, collect, the one element, the gathered training set,
      // the model trained on it and deploy (its training data changed).
      production: 'executed',
      collect: 'executed',
      'synthesize-each': 'executed',
      synthesize: 'executed',
      train: 'executed',
      deploy: 'executed',
      // The retrieval model learns from the requests and the workflows' structure, not their names: it comes
      // out identical, so evaluation and everything after it stay hits (early cutoff).
      evaluate: 'cached',
      'judge-each': 'cached',
      judge: 'cached',
      'mirror-each': 'cached',
      mirror: 'cached',
      report: 'cached',
      // Not downstream of the export at all.
      feedback: 'cached',
      traffic: 'cached',
      'mirror-sample': 'cached',
      benchmark: 'cached',
      calibration: 'cached',
      'calibrate-judge': 'cached',
      golden: 'cached',
      'judge-drift': 'cached',
      'judge-trust': 'cached',
    });
    expect(changed.run.steps.find((s) => s.id === 'train')?.outputs).toEqual(modelBefore);

    // Exactly that workflow's training example changed, in place; the report has the same shape and counts.
    const trainAfter = lines(await output('synthesize.train'));
    expect(trainAfter).toHaveLength(trainBefore.length);
    const differing = trainAfter.flatMap((line, i) => (line === trainBefore[i] ? [] : [i]));
    expect(differing).toEqual([index]);
    expect(trainAfter[index]).toContain('(renamed)');
    expect(JSON.parse(await output('synthesize.report'))).toEqual(reportBefore);

    // The same export again: everything is a hit, the map as one entry.
    const again = await runJson('flow-agent', ['--set', `production.source=${exportCopy}`], ws);
    expect(again.code, again.stderr).toBe(0);
    expect(Object.entries(statuses(again.run)).filter(([, status]) => status !== 'cached')).toEqual([]);
  }, 180_000);
});
