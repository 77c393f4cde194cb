import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, dir, file, json } from 'flywheel';
import { bySlice } from '../flow-agent/score-workflow.js';
import { writeReport } from '../report-document.js';
import { wilsonInterval } from '../stats/agreement.js';
import { JudgeTrust, untrustedReason } from './judge-trust.js';
import { JUDGE_LABELS, type JudgeLabel } from './calibration-generator.js';
import { Prediction, PredictionVerdict } from './judge-prediction.js';

export { JUDGE_MIN_SUCCESS_RATIO, judgePrediction, Prediction, PredictionVerdict } from './judge-prediction.js';

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
 * The judge at scale, if the trust decision allows it: gathers the verdicts of `judgePrediction` (mapped
 * over the benchmark predictions, one element per output) and reports the label distribution, with the
 * Wilson interval of the good rate, overall and per slice. An output without a verdict (its element
 * failed) counts as unjudged. An untrusted judge asks nothing and the output says why.
 */
export const judgePredictions = defineStep({
  id: 'judge-predictions',
  version: 4,
  description: "Gather the judge's verdicts on the candidate's benchmark outputs, if humans can trust it",
  inputs: { trust: json(JudgeTrust), predictions: file(), verdicts: file() },
  outputs: { judged: json(JudgedBenchmark), report: dir() },
  async run({ inputs, outputs, log, decline }) {
    const calibrated = inputs.trust.judge;
    const refused = untrustedReason(inputs.trust);
    if (refused !== null) {
      log.warn({ reason: refused }, 'benchmark not judged: the judge is not trusted');
      decline(`nothing judged: ${refused}`);
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
    const verdicts = (await readFile(inputs.verdicts, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => PredictionVerdict.parse(JSON.parse(l)));
    const byId = new Map(verdicts.map((v) => [v.id, v.label]));
    const labelled = predictions.flatMap((p) => {
      const label = byId.get(p.id);
      return label === null || label === undefined ? [] : [{ p, label }];
    });
    // The judge as the verdicts name it (the same for every element: its settings are in their keys).
    const runner = { id: verdicts[0]?.judge ?? calibrated.judge, offline: verdicts[0]?.offline ?? calibrated.offline };
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
    log.info({ judge: runner.id, good: result.overall.good, unjudged: result.unjudged }, 'benchmark judged');
    return { judged: result };
  },
});
