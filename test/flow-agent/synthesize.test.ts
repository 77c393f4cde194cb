import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateProductionCorpus } from '../../steps/flow-agent/corpus-generator.js';
import type { ProductionRecord } from '../../steps/flow-agent/production-record.js';
import { replayTrajectory, type TrainingExample } from '../../steps/flow-agent/trajectory.js';
import { validateFlow } from '../../steps/flow-agent/validate-flow.js';
import { workflowDescriptor } from '../../steps/flow-agent/workflow-descriptor.js';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
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
const onServer = (server: OpenAIServer): string[] => [
  '--set',
  'synthesize.provider=openai',
  '--set',
  'synthesize.concurrency=1',
  '--set',
  `synthesize.baseUrl=${server.baseURL}`,
];

describe('flow-agent synthesize', () => {
  it('retries 429 (honouring retry-after) and 500s, asks again on malformed output, and reports what stayed malformed', async () => {
    const ws = await workspace(4);
    const poisoned = ws.records[0]?.merchant_id as string;
    const server = await serve((request, index) => {
      const prompt = request.body.messages.map((m) => m.content).join('\n');
      if (index === 0) return { status: 429, headers: { 'retry-after': '1' }, content: 'slow down' };
      if (index === 1) return { status: 500, content: 'upstream hiccup' };
      if (index === 2) return { content: 'Sure! Here is the request you asked for.' }; // not JSON: asked again
      if (prompt.includes(poisoned)) return { content: '{"req": "wrong field"}' }; // stays malformed
      return { content: answer(`Please set up automation number ${index} for my store.`) };
    });
    const run = await runJson(pipeline, [...onServer(server), '--set', 'synthesize.maxFailureRate=1'], ws);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    const poisonedCount = ws.records.filter((r) => r.merchant_id === poisoned).length;
    expect(report.offline).toBe(false);
    expect(report.workflows).toBe(ws.records.length);
    expect(report.failures.map((f) => f.workflowId).sort()).toEqual(
      ws.records
        .filter((r) => r.merchant_id === poisoned)
        .map((r) => r.workflow_id)
        .sort(),
    );
    expect(report.failures[0]?.error).toContain('malformed after 3 attempts');
    expect(report.examples).toBe(ws.records.length - poisonedCount);
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
  }, 60_000);

  it('memoizes answers: ten new workflows cost ten calls, a new temperature costs them all again', async () => {
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
    expect(statuses(second.run).synthesize).toBe('executed');
    expect(server.requests).toHaveLength(n + more.length);
    const report = JSON.parse((await runCli(['output', 'synthesize.report'], ws)).stdout) as Report;
    expect(report).toMatchObject({ llmCalls: more.length, memoHits: n, examples: n + more.length });

    const warmer = await runJson(pipeline, [...onServer(server), '--set', 'synthesize.temperature=0.9'], ws);
    expect(statuses(warmer.run)).toMatchObject({ collect: 'cached', synthesize: 'executed' });
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
    const run = await runJson(pipeline, ['--set', 'synthesize.provider=openai'], { ...ws, env: { ...ws.env, OPENAI_API_KEY: '', FLYWHEEL_LLM_API_KEY: '' } });
    expect(run.code).toBe(1);
    expect(run.run.steps.find((s) => s.id === 'synthesize')?.error).toMatchObject({ code: 'LLM_KEY_MISSING' });
  });
});
