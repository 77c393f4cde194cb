import { fileURLToPath } from 'node:url';
import { definePipeline } from 'flywheel';
import { collect, snapshotBenchmark, snapshotProduction } from '../steps/flow-agent/collect.js';
import { compareFlowAgentRuns } from '../steps/release/compare-sources.js';
import { deploy } from '../steps/release/deploy.js';
import { evaluate } from '../steps/flow-agent/evaluate.js';
import { fineTune } from '../steps/flow-agent/fine-tune.js';
import { modelCommand } from '../steps/release/model-command.js';
import { MIRROR_MIN_SUCCESS_RATIO, mirror, mirrorRequest, mirrorSample, snapshotFeedback, snapshotTraffic } from '../steps/release/mirror.js';
import { runReport } from '../steps/flow-agent/run-report.js';
import { serveAdapter } from '../steps/flow-agent/serve-adapter.js';
import { synthesize, SYNTHESIZE_MIN_SUCCESS_RATIO, synthesizeWorkflow } from '../steps/flow-agent/synthesize.js';
import { trainLocal } from '../steps/flow-agent/train-local.js';
import { calibrateJudge, snapshotCalibration } from '../steps/judge/calibrate-judge.js';
import { goldenDrift, snapshotGolden } from '../steps/judge/golden-drift.js';
import { JUDGE_MIN_SUCCESS_RATIO, judgePrediction, judgePredictions } from '../steps/judge/judge-predictions.js';
import { judgeTrust } from '../steps/judge/judge-trust.js';
import { kappaCommand } from '../steps/judge/kappa-command.js';

const judgeData = (name: string): string => fileURLToPath(new URL(`../data/judge/${name}`, import.meta.url));

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
 * Both also calibrate the judge against human labels (offline rules locally, an LLM in production), check
 * it on the golden set every run, and let its verdicts act (judge the benchmark, decide mirroring, feed
 * lost requests into training data, promote) only if judge-trust says humans can trust it.
 * The steps before training are the same in both, so switching profile reuses their cached results.
 */
export default definePipeline({
  name: 'flow-agent',
  profiles: {
    local: 'offline stand-ins (template writer, CPU retrieval model): runs anywhere in seconds',
    production: 'LLM request writer, Qwen3-32B LoRA fine-tune on gpu-h200, evaluation of the served adapter',
  },
  // `flywheel compare` and the run view show its metrics, judge and deploy sections; the CLI gains
  // `flywheel model` (the registry deploy writes) and `flywheel kappa` (agreement of two raters).
  extensions: { compare: compareFlowAgentRuns, commands: { model: modelCommand, kappa: kappaCommand } },
  build(p, { profile }) {
    const production = profile === 'production';
    const source = p.add(snapshotProduction, { id: 'production', config: { source: data('production-workflows.jsonl') } });
    const collected = p.add(collect, { id: 'collect', inputs: { export: source.out.data } });
    // The flywheel: requests the last candidate lost in mirroring come back as training examples.
    const feedback = p.add(snapshotFeedback, { id: 'feedback' });
    // One element per collected workflow: a changed workflow re-writes its own request alone.
    const examples = p.map(synthesizeWorkflow, {
      id: 'synthesize-each',
      config: production ? { provider: 'openai' } : {},
      over: { workflow: collected.out.workflows },
      minSuccessRatio: SYNTHESIZE_MIN_SUCCESS_RATIO,
    });
    const synthesized = p.add(synthesize, {
      id: 'synthesize',
      inputs: { workflows: collected.out.workflows, examples: examples.out.example, feedback: feedback.out.data },
    });
    const traffic = p.add(snapshotTraffic, { id: 'traffic', config: { source: data('traffic.jsonl') } });
    const benchmark = p.add(snapshotBenchmark, { id: 'benchmark', config: { source: data('benchmark.jsonl') } });
    // The judge is calibrated against human labels (held-out kappa with its uncertainty: judge-trust decides).
    const calibration = p.add(snapshotCalibration, { id: 'calibration', config: { source: judgeData('calibration.jsonl') } });
    const judge = p.add(calibrateJudge, {
      id: 'calibrate-judge',
      config: production ? { model: 'gpt-4.1' } : {},
      inputs: { calibration: calibration.out.data },
    });
    // Every run re-scores the frozen golden set and tests it, item by item, against the accepted baseline.
    const golden = p.add(snapshotGolden, { id: 'golden', config: { source: judgeData('golden.jsonl') } });
    const drift = p.add(goldenDrift, { id: 'judge-drift', config: { liveJudge: production }, inputs: { judge: judge.out.judge, golden: golden.out.data } });
    // One trust decision before any verdict acts: judging, mirroring (and its feedback into training data) and deploy take it.
    const trust = p.add(judgeTrust, { id: 'judge-trust', inputs: { judge: judge.out.judge, drift: drift.out.drift } });
    // The candidate: a Qwen3 fine-tune served by the endpoint (production), or the CPU stand-in (local).
    const candidate = production
      ? (() => {
          const tuned = p.add(fineTune, { id: 'fine-tune', inputs: { train: synthesized.out.train } });
          const served = p.add(serveAdapter, { id: 'serve', inputs: { adapter: tuned.out.adapter } });
          const evaluated = p.add(evaluate, {
            id: 'evaluate',
            config: { serving: 'openai' },
            inputs: { benchmark: benchmark.out.data, served: served.out.served },
          });
          return { evaluated, mirrored: { served: served.out.served }, deployed: { adapter: tuned.out.adapter } };
        })()
      : (() => {
          const trained = p.add(trainLocal, { id: 'train', inputs: { train: synthesized.out.train } });
          const evaluated = p.add(evaluate, { id: 'evaluate', inputs: { model: trained.out.model, benchmark: benchmark.out.data } });
          return { evaluated, mirrored: { model: trained.out.model }, deployed: { model: trained.out.model } };
        })();
    const { evaluated } = candidate;
    // One judge call per benchmark output: a candidate that changes a few outputs is judged on those alone.
    const verdicts = p.map(judgePrediction, {
      id: 'judge-each',
      over: { prediction: evaluated.out.predictions },
      inputs: { trust: trust.out.trust },
      minSuccessRatio: JUDGE_MIN_SUCCESS_RATIO,
    });
    const judged = p.add(judgePredictions, {
      id: 'judge',
      inputs: { trust: trust.out.trust, predictions: evaluated.out.predictions, verdicts: verdicts.out.verdict },
    });
    // Mirroring: one element per sampled request (production and candidate answer it, the judge compares).
    const sample = p.add(mirrorSample, { id: 'mirror-sample', inputs: { traffic: traffic.out.data } });
    const outcomes = p.map(mirrorRequest, {
      id: 'mirror-each',
      over: { request: sample.out.requests },
      inputs: { trust: trust.out.trust, ...candidate.mirrored },
      minSuccessRatio: MIRROR_MIN_SUCCESS_RATIO,
    });
    const mirrored = p.add(mirror, {
      id: 'mirror',
      inputs: { requests: sample.out.requests, outcomes: outcomes.out.outcome, trust: trust.out.trust, ...candidate.mirrored },
    });
    p.add(deploy, {
      id: 'deploy',
      inputs: {
        ...candidate.deployed,
        metrics: evaluated.out.metrics,
        predictions: evaluated.out.predictions,
        train: synthesized.out.train,
        judged: judged.out.judged,
        trust: trust.out.trust,
        mirror: mirrored.out.mirror,
      },
    });
    p.add(runReport, {
      id: 'report',
      inputs: {
        trust: trust.out.report,
        benchmark: evaluated.out.report,
        judged: judged.out.report,
        calibration: judge.out.report,
        drift: drift.out.report,
        mirror: mirrored.out.report,
      },
    });
  },
});
