import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { FlywheelError } from 'flywheel';

/** The Python trainer package (trainer/flywheel_trainer), found next to the steps in the checkout or image. */
export const TRAINER_DIR = fileURLToPath(new URL('../../trainer', import.meta.url));

/**
 * The Python that runs the trainer: FLYWHEEL_TRAINER_PYTHON, else the virtualenv that
 * scripts/install-trainer-env.sh builds, else `python3` from PATH.
 */
export function trainerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FLYWHEEL_TRAINER_PYTHON) return env.FLYWHEEL_TRAINER_PYTHON;
  const venv = join(env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'trainer-venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/** The environment the trainer runs in: the package importable, no hub access, unbuffered lines. */
export function trainerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const pythonPath = env.PYTHONPATH ? `${TRAINER_DIR}:${env.PYTHONPATH}` : TRAINER_DIR;
  return { ...env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error', TOKENIZERS_PARALLELISM: 'false' };
}

/** One line of the trainer's progress protocol (trainer/flywheel_trainer/protocol.py). */
export const TrainerEvent = z.discriminatedUnion('event', [
  z
    .object({
      event: z.literal('start'),
      profile: z.string(),
      total_steps: z.number().int(),
      start_step: z.number().int(),
      examples: z.number().int(),
      skipped_too_long: z.number().int(),
      world_size: z.number().int(),
      /** `cuda` or `cpu`, the device's own name (`NVIDIA H200`) and how many the run holds: its GPU-seconds. */
      device: z.string().default('cpu'),
      device_name: z.string().default('cpu'),
      gpus: z.number().int().nonnegative().default(0),
    })
    .passthrough(),
  z.object({
    event: z.literal('step'),
    step: z.number().int(),
    total_steps: z.number().int(),
    loss: z.number(),
    lr: z.number(),
    tokens: z.number().int(),
    tokens_per_s: z.number(),
    elapsed_s: z.number(),
  }),
  z.object({ event: z.literal('checkpoint'), step: z.number().int(), path: z.string() }),
  z.object({ event: z.literal('done'), output: z.string(), metrics: z.record(z.string(), z.unknown()) }),
  z.object({
    event: z.literal('error'),
    kind: z.string(),
    retryable: z.boolean(),
    message: z.string(),
    file: z.string().optional(),
    line: z.number().int().optional(),
  }),
]);
export type TrainerEvent = z.infer<typeof TrainerEvent>;
export type TrainerErrorEvent = Extract<TrainerEvent, { event: 'error' }>;

/** A protocol event, or undefined for any other output (library warnings, tracebacks). */
export function parseTrainerLine(line: string): TrainerEvent | undefined {
  if (!line.startsWith('{"event"')) return undefined;
  try {
    const parsed = TrainerEvent.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const FIXES: Record<string, { code: string; fix: string }> = {
  bad_data: { code: 'TRAINING_DATA_INVALID', fix: "fix the line it names in the training trajectories (the synthesize step's output), then run again" },
  config: { code: 'TRAINER_CONFIG_INVALID', fix: "check the fine-tune step's config: profile, baseModelPath, processes" },
  oom: { code: 'TRAINER_OUT_OF_MEMORY', fix: 'retried automatically; if it persists, lower max_seq_len or micro_batch in the profile, or use more GPUs' },
  terminated: { code: 'TRAINER_TERMINATED', fix: 'retried automatically from the last checkpoint (a worker shut down or the node was preempted)' },
};

/**
 * What a failed trainer run means for the step: bad data or config is not retryable (a retry would
 * fail the same way); out of memory, preemption and crashes are, and resume from the last checkpoint.
 */
export function trainerFailure(reported: TrainerErrorEvent | undefined, processError: unknown, stderrTail: readonly string[]): FlywheelError {
  if (processError instanceof FlywheelError && processError.code === 'STEP_CANCELLED') return processError;
  const tail = stderrTail.length > 0 ? `\n  last trainer output:\n    ${stderrTail.join('\n    ')}` : '';
  if (reported !== undefined && reported.kind in FIXES) {
    const { code, fix } = FIXES[reported.kind] as { code: string; fix: string };
    return new FlywheelError(code, `trainer: ${reported.message}`, { retryable: reported.retryable, fix, cause: processError });
  }
  const how = processError instanceof Error ? processError.message : String(processError);
  return new FlywheelError('TRAINER_CRASHED', `trainer crashed (${how})${reported ? `: ${reported.message}` : ''}${tail}`, {
    retryable: true,
    fix: 'retried automatically from the last checkpoint; if every attempt crashes, read the trainer output above',
    cause: processError,
  });
}
