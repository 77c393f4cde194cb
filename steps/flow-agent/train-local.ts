import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, file, json } from 'flywheel';
import { trainRetrieval } from './retrieval-model.js';
import { replayTrajectory, type TrainingExample } from './trajectory.js';

export const LocalTrainingReport = z.object({ model: z.string(), offlineStandIn: z.literal(true), examples: z.number().int(), vocabulary: z.number().int() });

/**
 * The local profile's fine-tune: trains the TF-IDF retrieval model on the synthesized requests (the
 * workflow each trajectory builds is its answer). The production profile runs the GPU trainer instead.
 */
export const trainLocal = defineStep({
  id: 'flow-train-local',
  version: 1,
  description: 'Train the offline stand-in model (TF-IDF retrieval over synthesized requests) on CPU',
  inputs: { train: file() },
  outputs: { model: file({ fileName: 'model.json' }), report: json(LocalTrainingReport) },
  async run({ inputs, outputs, log }) {
    const examples = (await readFile(inputs.train, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((line) => {
        const example = JSON.parse(line) as TrainingExample;
        return { request: example.messages.find((m) => m.role === 'user')?.content ?? '', workflow: replayTrajectory(example) };
      });
    const model = trainRetrieval(examples);
    await writeFile(outputs.model, JSON.stringify(model));
    log.warn('local profile: trained the offline stand-in (retrieval model), not the GPU fine-tune');
    return { report: { model: model.format, offlineStandIn: true as const, examples: examples.length, vocabulary: model.vocabulary.length } };
  },
});
