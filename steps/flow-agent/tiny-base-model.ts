import { z } from 'zod';
import { defineStep, dir, file, runProcess } from 'flywheel';
import { trainerEnv, trainerPython } from './trainer-process.js';

/**
 * A small random-initialised Qwen3-architecture model with a BPE tokenizer learned from the training
 * conversations, built offline by the trainer package. It lets the fine-tune step run end to end on a
 * CPU (tests, laptops); its results say nothing about the quality of the production model.
 */
export const tinyBaseModel = defineStep({
  id: 'flow-tiny-base-model',
  version: 1,
  description: 'Build a tiny random Qwen3-architecture model and tokenizer for CPU rehearsals of the fine-tune',
  config: z.object({ vocabSize: z.number().int().min(300).max(32768).default(1024), seed: z.number().int().default(0) }),
  inputs: { corpus: file() },
  outputs: { model: dir() },
  codeFiles: ['../../trainer/flywheel_trainer/tiny_model.py', '../../trainer/requirements.txt'],
  async run({ config, inputs, outputs, signal, log }) {
    const args = [
      '-m',
      'flywheel_trainer.tiny_model',
      '--out',
      outputs.model,
      '--corpus',
      inputs.corpus,
      '--vocab-size',
      String(config.vocabSize),
      '--seed',
      String(config.seed),
    ];
    await runProcess(trainerPython(), args, {
      signal,
      env: trainerEnv(),
      onLine: (line) => void (line.startsWith('{') && log.info(JSON.parse(line) as object, 'tiny base model built')),
    });
  },
});
