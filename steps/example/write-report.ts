import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, file, json } from 'flywheel';
import { DocumentStats } from './document-stats.js';
import { WordFrequencies } from './word-frequencies.js';

/** Joins both branches of the diamond into a Markdown report. */
export const writeReport = defineStep({
  id: 'write-report',
  version: 1,
  config: z.object({ title: z.string().default('Corpus report') }),
  inputs: { frequencies: json(WordFrequencies), stats: json(DocumentStats) },
  outputs: { report: file({ fileName: 'report.md' }) },
  async run({ config, inputs, outputs, log }) {
    const { frequencies, stats } = inputs;
    const rows = frequencies.top.map((t) => `| ${t.word} | ${t.count} |`).join('\n');
    const text = `# ${config.title}\n\n${stats.documents} documents, ${frequencies.totalWords} words (${frequencies.distinctWords} distinct).\nMean sentence length ${stats.meanSentenceWords} words, longest ${stats.longestSentenceWords}.\n\n| word | count |\n| --- | --- |\n${rows}\n`;
    await writeFile(outputs.report, text);
    log.info({ bytes: text.length }, 'report written');
  },
});
