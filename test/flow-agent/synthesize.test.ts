import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateProductionCorpus } from '../../steps/flow-agent/corpus-generator.js';
import type { ProductionRecord } from '../../steps/flow-agent/production-record.js';
import { replayTrajectory, type TrainingExample } from '../../steps/flow-agent/trajectory.js';
import { validateFlow } from '../../steps/flow-agent/validate-flow.js';
import { workflowDescriptor } from '../../steps/flow-agent/workflow-descriptor.js';
import { elementsOf, FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { scriptedServers, type OpenAIServer } from '../support/openai-server.js';
import { tempDir } from '../support/temp-dir.js';

const pipeline = join(FIXTURES, 'flow-synthesize.ts');
const serve = scriptedServers();

interface Report {
  writer: string;
  offline: boolean;
  workflows: number;
  examples: number;
  llmCalls: number;
  memoHits: number;
  failures: Array<{ workflowId: string; error: string }>;
}

/** A workspace with a small production export (every record kept by the fixture's collect settings). */
async function workspace(merchants: number, seed = 5): Promise<{ cwd: string; exportPath: string; records: ProductionRecord[]; env: Record<string, string> }> {
  const cwd = await tempDir('flow-synth');
  const exportPath = join(cwd, 'export.jsonl');
  const records = generateProductionCorpus(seed, merchants).filter((r) => r.last_run_at !== null);
  await writeFile(exportPath, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return {
    cwd,
    exportPath,
    records,
    env: { FLYWHEEL_TEST_FLOW_EXPORT: exportPath, FLYWHEEL_LLM_MEMO_DIR: join(cwd, 'memo'), OPENAI_API_KEY: 'sk-test-not-a-real-key' },
  };
}

const answer = (text: string): string => JSON.stringify({ request: text });
/** The LLM writer on the scripted server, one element at a time (the scripted replies go by request order). */
const onServer = (server: OpenAIServer): string[] => [
  '--concurrency',
  '1',
  '--set',
  'synthesize-each.provider=openai',
  '--set',
  `synthesize-each.baseUrl=${server.baseURL}`,
];

describe('flow-agent synthesize', () => {
  it('retries 429 (honouring retry-after) and 500s, asks again on malformed output; what stays malformed is left out, reported, and retried alone next run', async () => {
    const ws = await workspace(4);
    const poisoned = ws.records[0]?.merchant_id as string;
    let poisoning = true;
    const server = await serve((request, index) => {
      const prompt = request.body.messages.map((m) => m.content).join('\n');
      if (index === 0) return { status: 429, headers: { 'retry-after': '1' }, content: 'slow down' };
      if (index === 1) return { status: 500, content: 'upstream hiccup' };
      if (index === 2) return { content: 'Sure! Here is the request you asked for.' }; // not JSON: asked again
      if (poisoning && prompt.includes(poisoned)) return { content: '{"req": "wrong field"}' }; // stays malformed
      return { content: answer(`Please set up automation number ${index} for my store.`) };
    });
    // The poisoned merchant's share of workflows is above the pipeline's 20%: the test lets the map go on.
    const tolerant = { ...ws, env: { ...ws.env, FLYWHEEL_TEST_SYNTH_MIN_SUCCESS: '0.01' } };
    const run = await runJson(pipeline, onServer(server), tolerant);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    const poisonedIds = ws.records
      .filter((r) => r.merchant_id === poisoned)
      .map((r) => r.workflow_id)
      .sort();
    expect(report.offline).toBe(false);
    expect(report.workflows).toBe(ws.records.length);
    expect(report.failures.map((f) => f.workflowId)).toEqual(poisonedIds);
    expect(report.failures[0]?.error).toContain('no training example');
    expect(report.examples).toBe(ws.records.length - poisonedIds.length);
    expect(report.llmCalls).toBe(report.examples);
    // The map's run record names each failed element's error; a malformed answer is not cached.
    const elements = await elementsOf(run.run.runId, 'synthesize-each', ws);
    expect(elements).toMatchObject({ total: ws.records.length, executed: ws.records.length - poisonedIds.length, failed: poisonedIds.length });
    expect(elements?.failures?.map((f) => f.code)).toEqual(poisonedIds.map(() => 'LLM_OUTPUT_MALFORMED'));
    expect(elements?.failures?.[0]?.message).toContain('malformed after 3 attempts');
    // The 429 asked for one second; the client waited at least that long before trying again.
    expect((server.requests[1]?.at ?? 0) - (server.requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    expect(server.requests[0]?.body.model).toBe('gpt-4.1-mini');

    // Every training example replays into exactly the workflow it was built from, which validates.
    const lines = (await runCli(['output', 'synthesize.train'], ws)).stdout.trim().split('\n');
    expect(lines).toHaveLength(report.examples);
    const expected = new Set(ws.records.map((r) => workflowDescriptor(r.workflow)));
    for (const line of lines) {
      const example = JSON.parse(line) as TrainingExample;
      expect(example.tools.map((t) => t.function.name)).toContain('add_trigger');
      expect(example.messages[1]?.content).toMatch(/^Please set up automation number \d+/);
      const rebuilt = replayTrajectory(example);
      expect(validateFlow(rebuilt)).toEqual([]);
      expect(expected.has(workflowDescriptor(rebuilt))).toBe(true);
    }

    // The model answers properly now: the next run asks again for the failed workflows alone.
    poisoning = false;
    const before = server.requests.length;
    const retry = await runJson(pipeline, onServer(server), tolerant);
    expect(retry.code, retry.stderr).toBe(0);
    expect(statuses(retry.run)).toMatchObject({ collect: 'cached', 'synthesize-each': 'executed', synthesize: 'executed' });
    expect(await elementsOf(retry.run.runId, 'synthesize-each', ws)).toMatchObject({
      executed: poisonedIds.length,
      cached: ws.records.length - poisonedIds.length,
      failed: 0,
    });
    expect(server.requests.length - before).toBe(poisonedIds.length);
    const complete = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    expect(complete).toMatchObject({ examples: ws.records.length, failures: [] });
    expect(statuses((await runJson(pipeline, onServer(server), tolerant)).run)).toMatchObject({ 'synthesize-each': 'cached', synthesize: 'cached' });
  }, 60_000);

  it('fails the run when more than a fifth of the workflows get no example', async () => {
    const ws = await workspace(2);
    const server = await serve(() => ({ content: 'no JSON here' }));
    const run = await runJson(pipeline, onServer(server), ws);
    expect(run.code).toBe(1);
    expect(run.run.steps.find((s) => s.id === 'synthesize-each')?.error?.code).toBe('MAP_ELEMENTS_FAILED');
    expect(statuses(run.run).synthesize).toBe('skipped');
  }, 60_000);

  it('one element per workflow: ten new workflows cost ten calls; the memo spares the calls when the elements re-run for a setting the answer does not depend on', async () => {
    const ws = await workspace(6, 11);
    const server = await serve((_, index) => ({ content: answer(`Automate thing ${index} in my shop, please.`) }));
    const first = await runJson(pipeline, onServer(server), ws);
    expect(first.code, first.stderr).toBe(0);
    const n = ws.records.length;
    expect(server.requests).toHaveLength(n);

    const more = generateProductionCorpus(99, 4)
      .filter((r) => r.last_run_at !== null)
      .slice(0, 10);
    await appendFile(ws.exportPath, more.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const second = await runJson(pipeline, onServer(server), ws);
    expect(statuses(second.run)).toMatchObject({ 'synthesize-each': 'executed', synthesize: 'executed' });
    expect(await elementsOf(second.run.runId, 'synthesize-each', ws)).toMatchObject({ total: n + more.length, executed: more.length, cached: n });
    expect(server.requests).toHaveLength(n + more.length);
    const report = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    expect(report).toMatchObject({ llmCalls: n + more.length, memoHits: 0, examples: n + more.length });

    // A timeout is in every element's key but not in the answer: all re-run, none calls the LLM.
    const patient = await runJson(pipeline, [...onServer(server), '--set', 'synthesize-each.timeoutMs=90000'], ws);
    expect(await elementsOf(patient.run.runId, 'synthesize-each', ws)).toMatchObject({ executed: n + more.length, cached: 0 });
    expect(server.requests).toHaveLength(n + more.length);
    const memoized = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    expect(memoized).toMatchObject({ llmCalls: 0, memoHits: n + more.length, examples: n + more.length });

    const warmer = await runJson(pipeline, [...onServer(server), '--set', 'synthesize-each.temperature=0.9'], ws);
    expect(statuses(warmer.run)).toMatchObject({ collect: 'cached', 'synthesize-each': 'executed', synthesize: 'executed' });
    expect(server.requests).toHaveLength(2 * (n + more.length));
    expect(server.requests.at(-1)?.body.temperature).toBe(0.9);
  }, 60_000);

  it('runs offline without a key, labelled as the offline stand-in', async () => {
    const ws = await workspace(3);
    const run = await runJson(pipeline, [], { ...ws, env: { ...ws.env, OPENAI_API_KEY: '' } });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    expect(report).toMatchObject({ writer: 'offline-template-writer/v1', offline: true, llmCalls: 0, failures: [] });
    const train = (await runCli(['output', 'synthesize.train'], ws)).stdout;
    expect(train.trim().split('\n')).toHaveLength(report.examples);
    expect(report.examples).toBe(ws.records.length);
  });

  it('says how to fix a missing key instead of calling the API', async () => {
    const ws = await workspace(2);
    const run = await runJson(pipeline, ['--set', 'synthesize-each.provider=openai'], {
      ...ws,
      env: { ...ws.env, OPENAI_API_KEY: '', FLYWHEEL_LLM_API_KEY: '' },
    });
    expect(run.code).toBe(1);
    const each = run.run.steps.find((s) => s.id === 'synthesize-each');
    expect(each?.error?.code).toBe('MAP_ELEMENTS_FAILED');
    expect((await elementsOf(run.run.runId, 'synthesize-each', ws))?.failures?.[0]).toMatchObject({ code: 'LLM_KEY_MISSING' });
  });
});
