import { z } from 'zod';
import { defineStep, dir, json } from 'flywheel';
import { readCorpus } from './read-corpus.js';

export const WordFrequencies = z.object({
  totalWords: z.number().int(),
  distinctWords: z.number().int(),
  top: z.array(z.object({ word: z.string(), count: z.number().int() })),
});
export type WordFrequencies = z.infer<typeof WordFrequencies>;

/** Counts words across the corpus and keeps the most frequent ones. */
export const wordFrequencies = defineStep({
  id: 'word-frequencies',
  version: 1,
  config: z.object({ top: z.number().int().min(1).default(10), minLength: z.number().int().min(1).default(3) }),
  inputs: { corpus: dir() },
  outputs: { frequencies: json(WordFrequencies) },
  async run({ config, inputs }) {
    const counts = new Map<string, number>();
    let totalWords = 0;
    for (const text of await readCorpus(inputs.corpus)) {
      for (const word of text.toLowerCase().split(/[^a-z]+/)) {
        if (word.length < config.minLength) continue;
        totalWords++;
        counts.set(word, (counts.get(word) ?? 0) + 1);
      }
    }
    const top = [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, config.top)
      .map(([word, count]) => ({ word, count }));
    return { frequencies: { totalWords, distinctWords: counts.size, top } };
  },
});
