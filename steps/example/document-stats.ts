import { z } from 'zod';
import { defineStep, dir, json } from 'flywheel';
import { readCorpus } from './read-corpus.js';

export const DocumentStats = z.object({
  documents: z.number().int(),
  meanSentenceWords: z.number(),
  longestSentenceWords: z.number().int(),
});
export type DocumentStats = z.infer<typeof DocumentStats>;

/** Sentence-length statistics; `precision` rounds the mean, so small changes may leave the output identical. */
export const documentStats = defineStep({
  id: 'document-stats',
  version: 1,
  config: z.object({ precision: z.number().int().min(0).max(6).default(1) }),
  inputs: { corpus: dir() },
  outputs: { stats: json(DocumentStats) },
  async run({ config, inputs }) {
    const documents = await readCorpus(inputs.corpus);
    const lengths = documents.flatMap((text) =>
      text
        .split('.')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => s.split(/\s+/).length),
    );
    const mean = lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length);
    const factor = 10 ** config.precision;
    return { stats: { documents: documents.length, meanSentenceWords: Math.round(mean * factor) / factor, longestSentenceWords: Math.max(0, ...lengths) } };
  },
});
