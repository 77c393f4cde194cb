import { fileURLToPath } from 'node:url';
import { definePipeline } from 'flywheel';
import { collect, snapshotBenchmark, snapshotProduction } from '../steps/flow-agent/collect.js';
import { deploy } from '../steps/flow-agent/deploy.js';
import { evaluate } from '../steps/flow-agent/evaluate.js';
import { fineTune } from '../steps/flow-agent/fine-tune.js';
import { serveAdapter } from '../steps/flow-agent/serve-adapter.js';
import { synthesize } from '../steps/flow-agent/synthesize.js';
import { trainLocal } from '../steps/flow-agent/train-local.js';

const data = (name: string): string => fileURLToPath(new URL(`../data/flow-agent/${name}`, import.meta.url));

/**
 * The flagship pipeline: production workflows → collect → synthesize training trajectories → train →
 * evaluate on the held-out benchmark → deploy behind the gate (`flywheel model ls`).
 *
 * - `local` (default): no key, no GPU. Offline template request writer, and a CPU retrieval model as
 *   the offline stand-in for the fine-tune, both labelled as such in their outputs.
 * - `production`: an OpenAI-compatible LLM writes the requests (OPENAI_BASE_URL, OPENAI_API_KEY), the
 *   Qwen3-32B LoRA fine-tune runs on a gpu-h200 worker, the adapter is loaded onto the serving
 *   endpoint (FLYWHEEL_SERVING_URL) and evaluated there through the agent's tools.
 *
 * The steps before training are the same in both, so switching profile reuses their cached results.
 */
export default definePipeline({
  name: 'flow-agent',
  profiles: {
    local: 'offline stand-ins (template writer, CPU retrieval model): runs anywhere in about a second',
    production: 'LLM request writer, Qwen3-32B LoRA fine-tune on gpu-h200, evaluation of the served adapter',
  },
  build(p, { profile }) {
    const production = profile === 'production';
    const source = p.add(snapshotProduction, { id: 'production', config: { source: data('production-workflows.jsonl') } });
    const collected = p.add(collect, { id: 'collect', inputs: { export: source.out.data } });
    const synthesized = p.add(synthesize, { id: 'synthesize', config: production ? { provider: 'openai' } : {}, inputs: { workflows: collected.out.workflows } });
    const benchmark = p.add(snapshotBenchmark, { id: 'benchmark', config: { source: data('benchmark.jsonl') } });
    if (production) {
      const tuned = p.add(fineTune, { id: 'fine-tune', inputs: { train: synthesized.out.train } });
      const served = p.add(serveAdapter, { id: 'serve', inputs: { adapter: tuned.out.adapter } });
      const evaluated = p.add(evaluate, { id: 'evaluate', config: { serving: 'openai' }, inputs: { benchmark: benchmark.out.data, served: served.out.served } });
      p.add(deploy, { id: 'deploy', inputs: { adapter: tuned.out.adapter, metrics: evaluated.out.metrics, train: synthesized.out.train } });
    } else {
      const trained = p.add(trainLocal, { id: 'train', inputs: { train: synthesized.out.train } });
      const evaluated = p.add(evaluate, { id: 'evaluate', inputs: { model: trained.out.model, benchmark: benchmark.out.data } });
      p.add(deploy, { id: 'deploy', inputs: { model: trained.out.model, metrics: evaluated.out.metrics, train: synthesized.out.train } });
    }
  },
});
