import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, dir, file, json } from 'flywheel';
import { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { bySlice, SliceTags } from '../flow-agent/score-workflow.js';
import { writeReport } from '../report-document.js';
import { wilsonInterval } from './agreement.js';
import { JudgeTrust, untrustedReason } from './judge-trust.js';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from './judge-runner.js';

const Prediction = z.object({ id: z.string(), request: z.string(), prediction: FlowWorkflow.nullable(), slices: SliceTags });

const Distribution = z.object({
  items: z.number().int(),
  labels: z.record(z.string(), z.number().int()),
  good: z.number(),
  goodCi: z.tuple([z.number(), z.number()]),
});
export const JudgedBenchmark = z.object({
  /** Why nothing was judged (the judge is not trusted), or null. */
  refused: z.string().nullable(),
  judge: z.string(),
  offline: z.boolean(),
  specDigest: z.string(),
  heldOutKappa: z.number().nullable(),
  unjudged: z.number().int(),
  overall: Distribution,
  slices: z.record(z.string(), Distribution),
});
export type JudgedBenchmark = z.infer<typeof JudgedBenchmark>;

function distribution(labels: readonly JudgeLabel[]): z.infer<typeof Distribution> {
  const counts = Object.fromEntries(JUDGE_LABELS.map((l) => [l, labels.filter((x) => x === l).length]));
  const good = counts.good ?? 0;
  return { items: labels.length, labels: counts, good: labels.length === 0 ? 0 : good / labels.length, goodCi: wilsonInterval(good, labels.length) };
}

/**
 * The judge at scale, if the trust decision allows it: labels every benchmark prediction (a missing
 * prediction is bad without a call) and reports the label distribution, with the Wilson interval of the
 * good rate, overall and per slice. An untrusted judge asks nothing and the output says why.
 */
export const judgePredictions = defineStep({
  id: 'judge-predictions',
  version: 2,
  description: "Judge the candidate's benchmark outputs with the calibrated judge, if humans can trust it",
  config: z.object({ ...JUDGE_ENDPOINT_CONFIG }),
  inputs: { trust: json(JudgeTrust), predictions: file() },
  outputs: { judged: json(JudgedBenchmark), report: dir() },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, outputs, log }) {
    const calibrated = inputs.trust.judge;
    const refused = untrustedReason(inputs.trust);
    if (refused !== null) {
      log.warn({ reason: refused }, 'benchmark not judged: the judge is not trusted');
      const empty = distribution([]);
      await writeReport(outputs.report, 'Judged benchmark — refused', [
        { kind: 'heading', level: 1, text: 'Judged benchmark — refused' },
        { kind: 'paragraph', text: `Nothing was judged: ${refused}.` },
      ]);
      return {
        judged: {
          refused,
          judge: calibrated.judge,
          offline: calibrated.offline,
          specDigest: calibrated.specDigest,
          heldOutKappa: calibrated.heldOut.mean,
          unjudged: 0,
          overall: empty,
          slices: {},
        },
      };
    }
    const heldOutKappa = calibrated.heldOut.mean;
    const predictions = (await readFile(inputs.predictions, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => Prediction.parse(JSON.parse(l)));
    const runner = judgeRunner(calibrated.spec.model, config, "judge-predictions (the calibrated spec's model)");
    const present = predictions.filter((p) => p.prediction !== null);
    const judged = await runner.judge(
      calibrated.spec,
      present.map((p) => ({ request: p.request, output: p.prediction as FlowWorkflow })),
    );
    const byId = new Map(present.map((p, i) => [p.id, judged[i] ?? null]));
    const labelled = predictions.flatMap((p) => {
      const label = p.prediction === null ? 'bad' : byId.get(p.id);
      return label === null || label === undefined ? [] : [{ p, label }];
    });
    const result: JudgedBenchmark = {
      refused: null,
      judge: runner.id,
      offline: runner.offline,
      specDigest: calibrated.specDigest,
      heldOutKappa,
      unjudged: predictions.length - labelled.length,
      overall: distribution(labelled.map((l) => l.label)),
      slices: bySlice(
        labelled,
        ({ p }) => p.slices,
        (group) => distribution(group.map((l) => l.label)),
      ),
    };
    const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
    const rows = [
      ['slice', 'items', ...JUDGE_LABELS, 'good rate', '95% CI'],
      ...[['overall', result.overall] as const, ...Object.entries(result.slices)].map(([name, d]) => [
        name,
        String(d.items),
        ...JUDGE_LABELS.map((l) => String(d.labels[l] ?? 0)),
        pct(d.good),
        `[${pct(d.goodCi[0])}, ${pct(d.goodCi[1])}]`,
      ]),
    ];
    const title = `Judged benchmark — ${runner.id}${runner.offline ? ' (offline judge)' : ''}`;
    const blocks = [
      { kind: 'heading' as const, level: 1 as const, text: title },
      {
        kind: 'paragraph' as const,
        text: `Judge spec ${result.specDigest.slice(0, 12)}, trusted: ${inputs.trust.reasons.join('; ')}. ${result.unjudged} output(s) got no valid judgement.`,
      },
      { kind: 'table' as const, rows },
    ];
    await writeReport(outputs.report, title, blocks);
    log.info({ judge: runner.id, good: result.overall.good, unjudged: result.unjudged, ...runner.stats() }, 'benchmark judged');
    return { judged: result };
  },
});
