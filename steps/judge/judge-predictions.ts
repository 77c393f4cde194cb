import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json } from 'flywheel';
import { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { bySlice, SliceTags } from '../flow-agent/score-workflow.js';
import { toHtml, toMarkdown } from '../report-document.js';
import { wilsonInterval } from './agreement.js';
import { CalibratedJudge } from './calibrate-judge.js';
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
  judge: z.string(),
  offline: z.boolean(),
  specDigest: z.string(),
  heldOutKappa: z.number(),
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

/** Refuses a judge whose held-out agreement with humans is below the bar, with the reason and where to look. */
export function assertTrusted(calibrated: CalibratedJudge, minKappa: number): number {
  const kappa = calibrated.heldOut.mean;
  if (kappa !== null && kappa >= minKappa) return kappa;
  const perHuman = calibrated.heldOut.kappa
    .map(
      (k, i) =>
        `annotator ${i + 1} ${k?.toFixed(3) ?? 'undefined'}${calibrated.heldOut.ci[i] ? ` [${(calibrated.heldOut.ci[i] as [number, number]).map((v) => v.toFixed(3)).join(', ')}]` : ''}`,
    )
    .join(', ');
  const cells =
    calibrated.disagreements
      .slice(0, 3)
      .map((d) => `${d.cell} (${d.items})`)
      .join(', ') || 'none';
  throw new FlywheelError(
    'JUDGE_UNTRUSTED',
    `judge ${calibrated.judge} (spec ${calibrated.specDigest.slice(0, 12)}) agrees with humans at held-out kappa ${kappa?.toFixed(3) ?? 'undefined'} (${perHuman}; human ceiling ${calibrated.heldOut.ceiling?.toFixed(3) ?? '–'}), below the bar ${minKappa}. Largest disagreements: ${cells}`,
    {
      retryable: false,
      fix: 'read the calibration report (flywheel output calibrate-judge.report --out judge-report), improve the rubric or widen the search (calibrate-judge.maxIterations, maxFewShot); lower judge.minKappa only knowingly',
    },
  );
}

/**
 * The trust gate, then the judge at scale: refuses to run unless the calibrated judge's held-out kappa
 * reaches `minKappa`; then labels every benchmark prediction (a missing prediction is bad without a
 * call) and reports the label distribution, with the Wilson interval of the good rate, overall and per slice.
 */
export const judgePredictions = defineStep({
  id: 'judge-predictions',
  version: 1,
  description: "Judge the candidate's benchmark outputs with the calibrated judge, if humans can trust it",
  config: z.object({
    ...JUDGE_ENDPOINT_CONFIG,
    minKappa: z.number().min(-1).max(1).default(0.6),
  }),
  inputs: { judge: json(CalibratedJudge), predictions: file() },
  outputs: { judged: json(JudgedBenchmark), report: dir() },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, outputs, log }) {
    const heldOutKappa = assertTrusted(inputs.judge, config.minKappa);
    const predictions = (await readFile(inputs.predictions, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => Prediction.parse(JSON.parse(l)));
    const runner = judgeRunner(inputs.judge.spec.model, config, "judge-predictions (the calibrated spec's model)");
    const present = predictions.filter((p) => p.prediction !== null);
    const judged = await runner.judge(
      inputs.judge.spec,
      present.map((p) => ({ request: p.request, output: p.prediction as FlowWorkflow })),
    );
    const byId = new Map(present.map((p, i) => [p.id, judged[i] ?? null]));
    const labelled = predictions.flatMap((p) => {
      const label = p.prediction === null ? 'bad' : byId.get(p.id);
      return label === null || label === undefined ? [] : [{ p, label }];
    });
    const result: JudgedBenchmark = {
      judge: runner.id,
      offline: runner.offline,
      specDigest: inputs.judge.specDigest,
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
        text: `Judge spec ${result.specDigest.slice(0, 12)}, trusted at held-out kappa ${heldOutKappa.toFixed(3)} (bar ${config.minKappa}). ${result.unjudged} output(s) got no valid judgement.`,
      },
      { kind: 'table' as const, rows },
    ];
    await mkdir(outputs.report, { recursive: true });
    await writeFile(join(outputs.report, 'report.md'), toMarkdown(blocks));
    await writeFile(join(outputs.report, 'report.html'), toHtml(title, blocks));
    log.info({ judge: runner.id, good: result.overall.good, unjudged: result.unjudged, ...runner.stats() }, 'benchmark judged');
    return { judged: result };
  },
});
