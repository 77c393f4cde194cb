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

/** A recorded production request: what a merchant typed (no answer is kept), for mirroring. */
export interface TrafficRecord {
  id: string;
  at: string;
  request: string;
  base?: BenchmarkExample['base'];
  slices: BenchmarkExample['slices'];
}

const TRAFFIC_SEED = 9090;
const TRAFFIC_SIZE = 120;

/** The committed traffic log (data/flow-agent/traffic.jsonl): requests seen by neither training nor the benchmark. */
export function trafficFixture(): TrafficRecord[] {
  const { corpus, benchmark } = flowFixtureData();
  const seen = new Set([...corpus.map((r) => workflowDescriptor(r.workflow)), ...benchmark.map((b) => b.descriptor)]);
  return generateBenchmark(TRAFFIC_SEED, TRAFFIC_SIZE, seen).map((example, i) => ({
    id: `traffic-${String(i).padStart(3, '0')}`,
    at: new Date(Date.UTC(2026, 10, 16) + i * 3_600_000).toISOString(),
    request: example.request,
    ...(example.base === undefined ? {} : { base: example.base }),
    slices: example.slices,
  }));
}

export function toJsonl(rows: readonly unknown[]): string {
  return `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
}
