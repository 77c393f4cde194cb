import { cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json, runProcess } from 'flywheel';
import { parseTrainerLine, trainerEnv, trainerFailure, trainerPython, type TrainerErrorEvent } from './trainer-process.js';

export const FineTuneMetrics = z.object({
  profile: z.string(),
  baseModel: z.string(),
  steps: z.number().int(),
  examples: z.number().int(),
  skippedTooLong: z.number().int(),
  initialLoss: z.number(),
  finalLoss: z.number(),
  tokensPerSecond: z.number(),
  /** The step the last attempt started from: 1, or one past the checkpoint it resumed. */
  startedAtStep: z.number().int(),
  worldSize: z.number().int(),
  checkpointsSaved: z.number().int(),
});
export type FineTuneMetrics = z.infer<typeof FineTuneMetrics>;

/** Resume state carried in progress details (and so in Temporal heartbeats): the last stored checkpoint. */
const Resume = z.object({ checkpoint: z.string(), step: z.number().int() });

const PythonMetrics = z.object({
  profile: z.string(),
  steps: z.number().int(),
  examples: z.number().int(),
  skipped_too_long: z.number().int(),
  initial_loss: z.number(),
  final_loss: z.number(),
  tokens_per_s: z.number(),
  world_size: z.number().int(),
  resumed_at_step: z.number().int().nullable(),
});

export const FineTuneConfig = z.object({
  /** `qwen3-32b-h200`: the weekly production run (bf16 LoRA, FSDP); `tiny-cpu`: tests and laptops. */
  profile: z.enum(['qwen3-32b-h200', 'tiny-cpu']).default('qwen3-32b-h200'),
  /** Local folder of the base model on the GPU workers, used when the baseModel input is not wired. */
  baseModelPath: z.string().default('/models/Qwen3-32B'),
  /**
   * Names the weights at baseModelPath (e.g. the upstream commit); it enters the cache key in their
   * place, since hashing 64 GB of weights on every look-up is not an option. Change it when they change.
   */
  baseModelRevision: z.string().default('unversioned'),
  /**
   * Trainer processes: `per-gpu` (one rank per GPU the worker sees, under torchrun with FSDP; one
   * process on a CPU profile) or a number. The profile fixes the global batch, so this changes the
   * speed, not the result.
   */
  processes: z.union([z.literal('per-gpu'), z.number().int().min(1).max(64)]).default('per-gpu'),
  /** 0: the profile's epochs decide. */
  maxSteps: z.number().int().min(0).default(0),
  /** Optimizer steps between checkpoints; 0 = the profile's. */
  checkpointEvery: z.number().int().min(0).default(0),
  seed: z.number().int().default(0),
  /** SIGTERM to SIGKILL on cancel: time to stop cleanly, short enough to free the GPUs at once. */
  cancelGraceSeconds: z.number().int().min(1).max(600).default(30),
  /**
   * No output from the trainer for this long (a hung collective, a stuck GPU) ends it as a retryable
   * failure, and the retry resumes from the last checkpoint. Heartbeats alone cannot see this: the
   * worker keeps heartbeating while the trainer hangs.
   */
  stallTimeoutSeconds: z.number().int().min(5).max(86_400).default(1800),
});

/**
 * The production fine-tune: runs the Python trainer (trainer/) on the synthesized trajectories,
 * turns its progress lines into progress (heartbeats on Temporal) and logs, stores each checkpoint in
 * the artifact store as it appears, and on a retry (here or on another worker) resumes from the last
 * one. Bad data or config fails at once; out of memory, preemption and crashes are retried.
 */
export const fineTune = defineStep({
  id: 'flow-fine-tune',
  version: 1,
  description: 'LoRA fine-tune of the agent on the synthesized trajectories with the Python trainer (GPU workers)',
  config: FineTuneConfig,
  inputs: { train: file(), baseModel: dir({ optional: true }) },
  outputs: { adapter: dir(), metrics: json(FineTuneMetrics) },
  resources: { queue: 'gpu-h200', timeout: 'PT14H', heartbeatTimeout: 'PT5M', retries: 3 },
  // The Python trainer it runs is its code too: editing train.py re-runs the fine-tune as editing this file does.
  codeFiles: ['../../trainer/flywheel_trainer/**/*.py', '../../trainer/requirements.txt'],
  async run({ config, inputs, outputs, workDir, log, progress, signal, resume, checkpoints, usage }) {
    const baseModel = inputs.baseModel ?? config.baseModelPath;
    const args = [
      '--model',
      baseModel,
      '--data',
      inputs.train,
      '--out',
      join(workDir, 'out'),
      '--profile',
      config.profile,
      '--checkpoint-dir',
      join(workDir, 'checkpoints'),
      '--seed',
      String(config.seed),
    ];
    if (config.maxSteps > 0) args.push('--max-steps', String(config.maxSteps));
    if (config.checkpointEvery > 0) args.push('--checkpoint-every', String(config.checkpointEvery));

    let last = Resume.safeParse(resume).data;
    if (last !== undefined) {
      const target = join(workDir, 'resume', `ckpt-${String(last.step).padStart(8, '0')}`);
      await checkpoints.restore(last.checkpoint, target);
      args.push('--resume-from', target);
      log.info({ step: last.step, checkpoint: last.checkpoint }, 'resuming from the last stored checkpoint');
    }

    const python = trainerPython();
    const ranks = config.processes === 'per-gpu' ? (config.profile === 'tiny-cpu' ? 1 : 'gpu') : config.processes;
    const command = ranks === 1 ? ['-m', 'flywheel_trainer.train'] : ['-m', 'flywheel_trainer.launch', `--nproc-per-node=${ranks}`, '--'];
    let reported: TrainerErrorEvent | undefined;
    let startedAt = 1;
    let saved = 0;
    let uploads: Promise<void> = Promise.resolve();
    const stderrTail: string[] = [];
    let lastHeard = Date.now();
    // The GPUs the trainer holds, as its start line names them: from its launch (loading the model holds
    // them too) until it exits.
    const launchedAt = Date.now();
    let held: { name: string; gpus: number } | undefined;
    const stalled = new AbortController();
    const watch = setInterval(
      () => {
        if (Date.now() - lastHeard > config.stallTimeoutSeconds * 1000) stalled.abort();
      },
      Math.min(10_000, config.stallTimeoutSeconds * 200),
    );
    const onLine = (line: string, stream: 'stdout' | 'stderr'): void => {
      lastHeard = Date.now();
      const event = stream === 'stdout' ? parseTrainerLine(line) : undefined;
      if (event === undefined) {
        if (line.trim() === '') return;
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
        log.debug({ stream, line }, 'trainer output');
        return;
      }
      switch (event.event) {
        case 'start':
          startedAt = event.start_step;
          if (event.device === 'cuda' && event.gpus > 0) held = { name: event.device_name, gpus: event.gpus };
          log.info(
            {
              profile: event.profile,
              totalSteps: event.total_steps,
              startStep: event.start_step,
              examples: event.examples,
              skippedTooLong: event.skipped_too_long,
              worldSize: event.world_size,
            },
            'trainer started',
          );
          break;
        case 'step':
          progress({
            fraction: event.step / event.total_steps,
            message: `step ${event.step}/${event.total_steps} loss ${event.loss.toFixed(4)} · ${Math.round(event.tokens_per_s)} tokens/s`,
            ...(last === undefined ? {} : { details: last }),
          });
          log[event.step % 10 === 0 || event.step === event.total_steps ? 'info' : 'debug'](
            { step: event.step, totalSteps: event.total_steps, loss: event.loss, tokensPerSecond: event.tokens_per_s },
            'training step',
          );
          break;
        case 'checkpoint': {
          // Stored in order, one at a time; progress names a checkpoint only once it is in the store.
          const { step, path } = event;
          uploads = uploads.then(async () => {
            const digest = await checkpoints.save(path);
            saved += 1;
            last = { checkpoint: digest, step };
            progress({ message: `checkpoint at step ${step} stored`, details: last });
            log.info({ step, checkpoint: digest }, 'checkpoint stored');
          });
          break;
        }
        case 'error':
          reported = event;
          break;
        case 'done':
          break;
      }
    };
    try {
      await runProcess(python, [...command, ...args], {
        signal: AbortSignal.any([signal, stalled.signal]),
        env: trainerEnv(),
        onLine,
        graceMs: config.cancelGraceSeconds * 1000,
      });
      await uploads;
    } catch (error) {
      await uploads.catch(() => undefined);
      if (stalled.signal.aborted && !signal.aborted) {
        throw new FlywheelError(
          'TRAINER_STALLED',
          `the trainer wrote nothing for ${config.stallTimeoutSeconds} s and was stopped${last === undefined ? '' : `; the retry resumes from step ${last.step}`}`,
          {
            retryable: true,
            fix: 'retried automatically; if it recurs, look for a hung collective (NCCL) or a GPU fault on that worker, or raise stallTimeoutSeconds for slow checkpoints',
          },
        );
      }
      throw trainerFailure(reported, error, stderrTail);
    } finally {
      clearInterval(watch);
      // Spent whether the attempt succeeds or not: a failed 10-hour attempt cost its GPU-hours too.
      if (held !== undefined) usage.gpu(held.name, (held.gpus * (Date.now() - launchedAt)) / 1000);
    }

    await mkdir(outputs.adapter, { recursive: true });
    await cp(join(workDir, 'out', 'adapter'), outputs.adapter, { recursive: true });
    const metrics = PythonMetrics.parse(JSON.parse(await readFile(join(workDir, 'out', 'metrics.json'), 'utf8')));
    return {
      metrics: {
        profile: metrics.profile,
        baseModel: inputs.baseModel === undefined ? `${config.baseModelPath}@${config.baseModelRevision}` : 'input:baseModel',
        steps: metrics.steps,
        examples: metrics.examples,
        skippedTooLong: metrics.skipped_too_long,
        initialLoss: metrics.initial_loss,
        finalLoss: metrics.final_loss,
        tokensPerSecond: metrics.tokens_per_s,
        startedAtStep: metrics.resumed_at_step ?? startedAt,
        worldSize: metrics.world_size,
        checkpointsSaved: saved,
      },
    };
  },
});
