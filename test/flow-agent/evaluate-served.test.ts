import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchmarkExample } from '../../steps/flow-agent/benchmark-generator.js';
import { buildTrajectory } from '../../steps/flow-agent/trajectory.js';
import { FIXTURES, REPO, runCli, runJson } from '../support/cli.js';
import { scriptedServers } from '../support/openai-server.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();

describe('flow-agent evaluate on a served model', () => {
  it('runs the agent loop against an OpenAI-compatible endpoint and scores what the tool calls built', async () => {
    const all = (await readFile(join(REPO, 'data', 'flow-agent', 'benchmark.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as BenchmarkExample);
    const examples = [...all.filter((e) => e.slices.kind === 'create').slice(0, 6), ...all.filter((e) => e.slices.kind === 'edit').slice(0, 4)];
    const wrong = examples[1] as BenchmarkExample;
    // A scripted candidate that plays each example's ideal trajectory turn by turn (stateless: the turn is the
    // number of tool results so far); for one example it picks another trigger, which evaluation must catch.
    const scripted = await serve((request) => {
      const user = request.body.messages.find((m) => m.role === 'user')?.content ?? '';
      const example = examples.find((e) => e.request === user);
      if (example === undefined) return { status: 400, content: `unknown request ${user.slice(0, 40)}` };
      const calls = buildTrajectory(example.request, example.expected, example.base).messages.filter((m) => m.role === 'assistant' && m.tool_calls);
      const turn = request.body.messages.filter((m) => m.role === 'tool').length;
      const next = calls[turn];
      if (next === undefined) return { content: 'Done.' };
      const toolCalls = structuredClone(next.tool_calls ?? []);
      if (example === wrong && toolCalls[0]?.function.name === 'add_trigger') {
        toolCalls[0].function.arguments = JSON.stringify({ ...JSON.parse(toolCalls[0].function.arguments), task_id: 'shopify::admin::shop_settings_updated' });
      }
      return { content: '', toolCalls };
    });
    const cwd = await tempDir('flow-eval-served');
    const benchmark = join(cwd, 'benchmark.jsonl');
    await writeFile(benchmark, examples.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const env = { FLYWHEEL_TEST_BENCHMARK: benchmark, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: scripted.baseURL };
    const run = await runJson(join(FIXTURES, 'flow-evaluate-served.ts'), [], { cwd, env });
    expect(run.code, run.stderr).toBe(0);
    const metrics = JSON.parse((await runCli(['output', 'evaluate.metrics'], { cwd, env })).stdout) as {
      model: string;
      offlineStandIn: boolean;
      failedPredictions: number;
      overall: { examples: number; trigger: number; exact: number };
      slices: Record<string, { exact: number }>;
    };
    expect(metrics.model).toBe(`openai:flow-agent-candidate@${scripted.baseURL}`);
    expect(metrics.offlineStandIn).toBe(false);
    expect(metrics.failedPredictions).toBe(0);
    expect(metrics.overall.examples).toBe(10);
    expect(metrics.overall.trigger).toBeCloseTo(0.9);
    expect(metrics.overall.exact).toBeCloseTo(0.9);
    expect(metrics.slices['kind:edit']?.exact).toBe(1); // edits start from get_workflow and change only what differs
    expect(scripted.requests.every((r) => r.body.model === 'flow-agent-candidate')).toBe(true);
  }, 60_000);
});
