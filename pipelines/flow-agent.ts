import { fileURLToPath } from 'node:url';
import { definePipeline } from 'flywheel';
import { collect, snapshotBenchmark, snapshotProduction } from '../steps/flow-agent/collect.js';
import { deploy } from '../steps/flow-agent/deploy.js';
import { evaluate } from '../steps/flow-agent/evaluate.js';
import { synthesize } from '../steps/flow-agent/synthesize.js';
import { trainLocal } from '../steps/flow-agent/train-local.js';

const data = (name: string): string => fileURLToPath(new URL(`../data/flow-agent/${name}`, import.meta.url));

/**
 * The flagship pipeline: production workflows → collect → synthesize training trajectories → train →
 * evaluate on the held-out benchmark → deploy. This is the local profile: offline
 * request writer (set `synthesize.provider=openai` for a real LLM) and the CPU retrieval model as
 * the offline stand-in for the GPU fine-tune. Deploy registers the candidate and promotes it to
 * production only when the gate passes (`flywheel model ls`).
 */
export default definePipeline({
  name: 'flow-agent',
  build(p) {
    const production = p.add(snapshotProduction, { id: 'production', config: { source: data('production-workflows.jsonl') } });
    const collected = p.add(collect, { id: 'collect', inputs: { export: production.out.data } });
    const synthesized = p.add(synthesize, { id: 'synthesize', inputs: { workflows: collected.out.workflows } });
    const trained = p.add(trainLocal, { id: 'train', inputs: { train: synthesized.out.train } });
    const benchmark = p.add(snapshotBenchmark, { id: 'benchmark', config: { source: data('benchmark.jsonl') } });
    const evaluated = p.add(evaluate, { id: 'evaluate', inputs: { model: trained.out.model, benchmark: benchmark.out.data } });
    p.add(deploy, { id: 'deploy', inputs: { model: trained.out.model, metrics: evaluated.out.metrics, train: synthesized.out.train } });
  },
});
