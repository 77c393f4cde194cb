import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainerEnv, trainerPython } from '../../steps/flow-agent/trainer-process.js';
import { TRAJECTORIES } from '../fixtures/fine-tune-rehearsal.js';
import { runCli, runJson, statuses } from '../support/cli.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();

describe('the flow-agent pipeline, production profile (rehearsed on a CPU with a tiny model)', () => {
  it('writes requests with the LLM, fine-tunes, loads the adapter on the serving endpoint, evaluates it there and gates it', async () => {
    const cwd = await tempDir('flow-agent-production');
    const baseModel = join(cwd, 'base-model');
    execFileSync(trainerPython(), ['-m', 'flywheel_trainer.tiny_model', '--out', baseModel, '--corpus', TRAJECTORIES], { env: trainerEnv(), stdio: 'pipe' });
    const loaded: Array<{ lora_name: string; lora_path: string }> = [];
    const server = await serve(
      (request) => {
        if (isJudgePrompt(request)) return { content: scriptedJudgeVerdict(readJudgePrompt(request)) };
        if (request.body.tools === undefined)
          return { content: JSON.stringify({ request: `Please automate this for my store (${request.body.messages.length} messages).` }) };
        // The served candidate: a random tiny model cannot build workflows; this one answers without its tools.
        return { content: 'I am not sure how to do that.' };
      },
      (method, path, body) => {
        if (method !== 'POST' || path !== '/v1/load_lora_adapter') return undefined;
        loaded.push(JSON.parse(body) as { lora_name: string; lora_path: string });
        return { status: 200, body: '"Success: LoRA adapter loaded"' };
      },
    );
    const env = {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: server.baseURL,
      FLYWHEEL_SERVING_URL: server.baseURL,
      FLYWHEEL_REGISTRY: join(cwd, 'registry'),
      FLYWHEEL_JUDGE_HISTORY: join(cwd, 'judge-history'),
      FLYWHEEL_FEEDBACK: join(cwd, 'feedback'),
    };
    const args = [
      '--profile',
      'production',
      '--set',
      'fine-tune.profile=tiny-cpu',
      '--set',
      `fine-tune.baseModelPath=${baseModel}`,
      '--set',
      'fine-tune.maxSteps=4',
      '--set',
      `serve.adapterRoot=${join(cwd, 'adapters')}`,
    ];

    const { code, run, stderr } = await runJson('flow-agent', args, { cwd, env });
    expect(code, stderr).toBe(0);
    expect(Object.entries(statuses(run)).filter(([, status]) => status !== 'executed')).toEqual([]);
    expect(Object.keys(statuses(run)).sort()).toEqual([
      'benchmark',
      'calibrate-judge',
      'calibration',
      'collect',
      'deploy',
      'evaluate',
      'feedback',
      'fine-tune',
      'golden',
      'judge',
      'judge-drift',
      'judge-each',
      'judge-trust',
      'mirror',
      'mirror-each',
      'mirror-sample',
      'production',
      'report',
      'serve',
      'synthesize',
      'synthesize-each',
      'traffic',
    ]);

    const synthesized = JSON.parse((await runCli(['output', 'synthesize.report'], { cwd, env })).stdout) as {
      offline: boolean;
      llmCalls: number;
      examples: number;
    };
    expect(synthesized.offline).toBe(false);
    expect(synthesized.llmCalls).toBe(synthesized.examples);
    const tuned = JSON.parse((await runCli(['output', 'fine-tune.metrics'], { cwd, env })).stdout) as { profile: string; steps: number; examples: number };
    expect(tuned).toMatchObject({ profile: 'tiny-cpu', steps: 4, examples: synthesized.examples });

    expect(loaded).toHaveLength(1);
    const [adapter] = loaded as [{ lora_name: string; lora_path: string }];
    expect(adapter.lora_name).toMatch(/^flow-agent-[0-9a-f]{12}$/);
    expect(await readdir(adapter.lora_path)).toEqual(expect.arrayContaining(['adapter_model.safetensors', 'adapter_config.json', 'chat_template.jinja']));

    const metrics = JSON.parse((await runCli(['output', 'evaluate.metrics'], { cwd, env })).stdout) as {
      model: string;
      offlineStandIn: boolean;
      overall: { examples: number; valid: number };
    };
    expect(metrics).toMatchObject({ model: `openai:${adapter.lora_name}@${server.baseURL}`, offlineStandIn: false });
    expect(metrics.overall.examples).toBe(300);
    expect(metrics.overall.valid).toBe(0);
    const decision = JSON.parse((await runCli(['output', 'deploy.decision'], { cwd, env })).stdout) as {
      version: number;
      promoted: boolean;
      reasons: string[];
    };
    expect(decision).toMatchObject({ version: 1, promoted: false });

    const registry = JSON.parse(await readFile(join(cwd, 'registry', 'registry.json'), 'utf8')) as {
      versions: Array<{ path: string; runId: string }>;
      aliases: { production: number | null; candidate: number };
    };
    expect(registry.aliases).toMatchObject({ production: null, candidate: 1 });
    expect(await readdir(join(cwd, 'registry', registry.versions[0]?.path ?? ''))).toEqual(expect.arrayContaining(['adapter_model.safetensors']));
    expect(registry.versions[0]?.runId).toBe(run.runId);

    // Back to the local profile: the shared steps before synthesize are reused from the production run.
    const plan = JSON.parse((await runCli(['plan', 'flow-agent', '--json'], { cwd, env })).stdout) as { steps: Array<{ id: string; decision: string }> };
    const decisions = Object.fromEntries(plan.steps.map((s) => [s.id, s.decision]));
    expect(decisions).toMatchObject({ production: 'cached', collect: 'cached', benchmark: 'cached', 'synthesize-each': 'run' });
    expect(decisions.train).toBeDefined();
  }, 300_000);
});
