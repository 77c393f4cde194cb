import { execFileSync } from 'node:child_process';
import { isProcessAlive } from '../../cache/process-alive.js';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PipelineDefinition, Progress } from 'flywheel';
import { materializeDirectory } from '../../cache/manifest.js';
import type { RunRecord } from '../../cache/records.js';
import { FineTuneMetrics } from '../../steps/flow-agent/fine-tune.js';
import { trainerPython } from '../../steps/flow-agent/trainer-process.js';
import { rehearsal, TRAJECTORIES } from '../fixtures/fine-tune-rehearsal.js';
import { inProcessRunner, memoryLogger } from '../support/in-process.js';
import { tempDir } from '../support/temp-dir.js';
import { trainerPids } from '../support/trainer-processes.js';

const FIXTURE = TRAJECTORIES;
const pipeline = (data: string, fineTune: Record<string, unknown> = {}): PipelineDefinition => rehearsal({ data, fineTune });

function fineTuneStep(run: RunRecord): RunRecord['steps'][number] {
  return run.steps.find((s) => s.id === 'fine-tune') as RunRecord['steps'][number];
}

async function metricsOf(runner: Awaited<ReturnType<typeof inProcessRunner>>, run: RunRecord): Promise<FineTuneMetrics> {
  const record = fineTuneStep(run).outputs?.metrics;
  if (record?.kind !== 'json') throw new Error('no metrics output');
  return FineTuneMetrics.parse(JSON.parse((await runner.store.readBytes(record.digest)).toString('utf8')));
}

describe('the fine-tune step runs the Python trainer (tiny-cpu profile)', () => {
  let reference: FineTuneMetrics;

  beforeAll(() => {
    // CI builds the trainer's virtualenv (scripts/install-trainer-env.sh); say so plainly when it is missing.
    execFileSync(trainerPython(), ['-c', 'import torch, transformers, peft'], { stdio: 'pipe' });
  });

  it('trains, reports progress, stores each checkpoint as it appears and outputs the adapter; the loss falls', async () => {
    const runner = await inProcessRunner();
    const progress: Progress[] = [];
    const run = await runner.run(pipeline(FIXTURE), { onEvent: (e) => void (e.type === 'step-progress' && e.id === 'fine-tune' && progress.push(e.progress)) });
    expect(run.status, JSON.stringify(fineTuneStep(run))).toBe('succeeded');
    reference = await metricsOf(runner, run);
    expect(reference).toMatchObject({
      profile: 'tiny-cpu',
      steps: 16,
      examples: 40,
      startedAtStep: 1,
      worldSize: 1,
      checkpointsSaved: 3,
      baseModel: 'input:baseModel',
    });
    expect(reference.finalLoss).toBeLessThan(reference.initialLoss);

    const steps = progress.filter((p) => p.message?.startsWith('step '));
    expect(steps.map((p) => p.message?.split(' ')[1])).toEqual(Array.from({ length: 16 }, (_, i) => `${i + 1}/16`));
    expect(steps.at(-1)?.fraction).toBe(1);
    const stored = progress.filter((p) => p.message?.startsWith('checkpoint')).map((p) => p.details as { checkpoint: string; step: number });
    expect(stored.map((d) => d.step)).toEqual([4, 8, 12]);
    for (const d of stored) expect(await runner.store.checkBlob(d.checkpoint as never, 'full')).toBe('ok');

    const adapter = fineTuneStep(run).outputs?.adapter;
    if (adapter?.kind !== 'dir') throw new Error('no adapter folder');
    const out = await tempDir('adapter');
    await materializeDirectory(runner.store, adapter.digest, out);
    expect((await readdir(out)).sort()).toEqual(
      expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'chat_template.jinja', 'tokenizer.json']),
    );
  }, 180_000); // a real trainer on 2 CPU cores: minutes when the machine is busy

  it('a trainer killed mid-run (a lost worker) is retried and resumes from the last stored checkpoint', async () => {
    const runner = await inProcessRunner();
    const { logger, lines } = memoryLogger('info');
    let killed = 0;
    const run = await runner.run(pipeline(FIXTURE), {
      logger,
      onEvent: (e) => {
        const details = e.type === 'step-progress' ? (e.progress.details as { step?: number } | undefined) : undefined;
        if (killed === 0 && details?.step === 8 && e.type === 'step-progress' && e.progress.message?.startsWith('checkpoint')) {
          for (const pid of trainerPids(runner.store.root)) process.kill(pid, 'SIGKILL');
          killed += 1;
        }
      },
    });
    expect(killed).toBe(1);
    expect(run.status, JSON.stringify(fineTuneStep(run))).toBe('succeeded');
    expect(fineTuneStep(run).attempts).toBe(2);
    const metrics = await metricsOf(runner, run);
    expect(metrics.startedAtStep).toBe(9); // the step count continues after the checkpoint at step 8
    expect(metrics.finalLoss).toBeCloseTo(reference.finalLoss, 5); // same data order, weights and optimizer state
    expect(lines().some((l) => l.msg === 'resuming from the last stored checkpoint' && l.step === 8)).toBe(true);
    expect(lines().some((l) => l.msg === 'attempt failed; retrying')).toBe(true);
  }, 180_000);

  it('a trainer that hangs (here: stopped with SIGSTOP) is ended after the stall timeout and the retry resumes', async () => {
    const runner = await inProcessRunner();
    const { logger, lines } = memoryLogger('info');
    let frozen: number[] = [];
    const run = await runner.run(pipeline(FIXTURE, { stallTimeoutSeconds: 20 }), {
      logger,
      onEvent: (e) => {
        const details = e.type === 'step-progress' ? (e.progress.details as { step?: number } | undefined) : undefined;
        if (frozen.length === 0 && details?.step === 8 && e.type === 'step-progress' && e.progress.message?.startsWith('checkpoint')) {
          frozen = trainerPids(runner.store.root);
          for (const pid of frozen) process.kill(pid, 'SIGSTOP'); // alive, silent, never finishing: a hung collective
        }
      },
    });
    expect(frozen).toHaveLength(1);
    expect(run.status, JSON.stringify(fineTuneStep(run))).toBe('succeeded');
    expect(fineTuneStep(run).attempts).toBe(2);
    expect((await metricsOf(runner, run)).startedAtStep).toBe(9);
    expect(lines().some((l) => l.msg === 'attempt failed; retrying' && (l.err as { code?: string } | undefined)?.code === 'TRAINER_STALLED')).toBe(true);
    expect(frozen.filter(isProcessAlive)).toEqual([]);
  }, 180_000);

  it('cancelling ends the trainer process group within the grace period', async () => {
    const runner = await inProcessRunner();
    const abort = new AbortController();
    let pids: number[] = [];
    const run = await runner.run(pipeline(FIXTURE, { maxSteps: 400, checkpointEvery: 0 }), {
      signal: abort.signal,
      onEvent: (e) => {
        if (pids.length === 0 && e.type === 'step-progress' && e.id === 'fine-tune' && e.progress.message?.startsWith('step 2/')) {
          pids = trainerPids(runner.store.root);
          abort.abort();
        }
      },
    });
    expect(pids.length).toBe(1);
    expect(fineTuneStep(run).status).not.toBe('executed');
    const deadline = Date.now() + 5_000 + 2_000; // the configured grace, and a margin for the kernel
    while (pids.some(isProcessAlive) && Date.now() < deadline) await sleep(50);
    expect(pids.filter(isProcessAlive)).toEqual([]);
    expect(trainerPids(runner.store.root)).toEqual([]);
  });

  it('a malformed trajectory line fails at once, without retries, naming the file and the line', async () => {
    const runner = await inProcessRunner();
    const dir = await tempDir('bad-trajectories');
    const lines = (await readFile(FIXTURE, 'utf8')).split('\n').filter(Boolean).slice(0, 6);
    lines.splice(2, 0, '{"messages": [{"role": "user", "content": "unterminated"}');
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, `${lines.join('\n')}\n`);
    // The tokenizer is learned from the clean corpus; the trainer reads the bad file.
    const badPipeline = rehearsal({ data: bad, corpus: FIXTURE, fineTune: { maxSteps: 4 } });
    const run = await runner.run(badPipeline);
    const step = fineTuneStep(run);
    expect(run.status).toBe('failed');
    expect(step.attempts).toBe(1);
    expect(step.error?.code).toBe('TRAINING_DATA_INVALID');
    expect(step.error?.message).toMatch(/train\.jsonl:3: not valid JSON/);
  });
});
