import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir } from 'flywheel';
import { SeededRandom } from '../stats/seeded-random.js';

const VOCABULARY = (
  'order customer product refund tag email inventory collection discount fulfillment payment invoice draft ' +
  'segment metafield webhook trigger condition action workflow merchant shipping return subscription variant ' +
  'stock risk dispute note archive publish capture schedule'
).split(' ');

/** Writes a seeded corpus of short merchant-style documents: the source of the example pipeline. */
export const makeCorpus = defineStep({
  id: 'make-corpus',
  version: 1,
  description: 'Generate a deterministic text corpus from a seed',
  config: z.object({
    documents: z.number().int().min(1).max(100_000).default(200),
    sentencesPerDocument: z.number().int().min(1).default(12),
    seed: z.number().int().default(7),
  }),
  outputs: { corpus: dir() },
  async run({ config, outputs, progress }) {
    const random = new SeededRandom(config.seed); // the same seed always writes the same bytes (and digest)
    const pick = (): string => random.pick(VOCABULARY);
    await mkdir(outputs.corpus, { recursive: true });
    for (let d = 0; d < config.documents; d++) {
      const sentences: string[] = [];
      for (let s = 0; s < config.sentencesPerDocument; s++) {
        const words = Array.from({ length: 4 + Math.floor(random.next() * 12) }, pick);
        sentences.push(`${words.join(' ')}.`);
      }
      await writeFile(join(outputs.corpus, `doc-${String(d).padStart(5, '0')}.txt`), `${sentences.join(' ')}\n`);
      if (d % 50 === 0) progress({ fraction: d / config.documents, message: `${d} documents` });
    }
  },
});
