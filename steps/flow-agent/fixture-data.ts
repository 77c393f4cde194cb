import { generateBenchmark, type BenchmarkExample } from './benchmark-generator.js';
import { generateProductionCorpus } from './corpus-generator.js';
import type { ProductionRecord } from './production-record.js';
import { workflowDescriptor } from './workflow-descriptor.js';

const CORPUS_SEED = 20261123;
const MERCHANTS = 300;
const BENCHMARK_SEED = 777;
const BENCHMARK_SIZE = 300;

/** The committed fixture data (data/flow-agent/), made the same way on every machine. */
export function flowFixtureData(): { corpus: ProductionRecord[]; benchmark: BenchmarkExample[] } {
  const corpus = generateProductionCorpus(CORPUS_SEED, MERCHANTS);
  const benchmark = generateBenchmark(BENCHMARK_SEED, BENCHMARK_SIZE, new Set(corpus.map((r) => workflowDescriptor(r.workflow))));
  return { corpus, benchmark };
}

export function toJsonl(rows: readonly unknown[]): string {
  return `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
}
