import { definePipeline } from 'flywheel';
import { documentStats } from '../steps/example/document-stats.js';
import { makeCorpus } from '../steps/example/make-corpus.js';
import { wordFrequencies } from '../steps/example/word-frequencies.js';
import { writeReport } from '../steps/example/write-report.js';

/**
 * A diamond: one corpus feeds two independent analyses, joined by a report.
 * Try `flywheel run example --set word-frequencies.top=5`: only that branch and the report re-run.
 */
export default definePipeline({
  name: 'example',
  description: 'Corpus statistics: make-corpus → (word-frequencies, document-stats) → write-report',
  build(p) {
    const corpus = p.add(makeCorpus, { config: { documents: 400 } });
    const frequencies = p.add(wordFrequencies, { inputs: { corpus: corpus.out.corpus } });
    const stats = p.add(documentStats, { inputs: { corpus: corpus.out.corpus } });
    p.add(writeReport, { inputs: { frequencies: frequencies.out.frequencies, stats: stats.out.stats } });
  },
});
