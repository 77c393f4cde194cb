import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { defineStep, dir, file, json } from 'flywheel';
import { snapshotStep } from '../flow-agent/collect.js';
import { type ReportBlock, writeReport } from '../report-document.js';
import { cohenKappa } from '../stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem } from './calibration-generator.js';
import { agreementTable, confusionTable, disagreementTable, historyBlocks, sliceTable } from './calibration-report.js';
import { labelRates, labelRateTable } from './label-rates.js';
import { agreement, disagreementCells, searchJudgeSpec, type AgreementScore } from './calibration-search.js';
import { defaultJudgeSpec, JudgeSpec, RUBRICS, specDigest, specWithRubric } from './judge-spec.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner, OFFLINE_MODEL } from './judge-runner.js';
import { meanKappaLowerBound, TRUST_CONFIDENCE } from './trust-gate.js';

/** The committed calibration set (data/judge/calibration.jsonl), keyed by its content. */
export const snapshotCalibration = snapshotStep('judge-snapshot-calibration', 'judge calibration set', 'calibration.jsonl');

const Agreement = z.object({
  kappa: z.tuple([z.number().nullable(), z.number().nullable()]),
  ci: z.tuple([z.tuple([z.number(), z.number()]).nullable(), z.tuple([z.number(), z.number()]).nullable()]),
  mean: z.number().nullable(),
  ceiling: z.number().nullable(),
  /** One-sided 95% bootstrap lower bound of `mean` (held-out part only: the development part chose the spec). */
  lowerBound: z.number().nullable(),
  items: z.number().int(),
  unjudged: z.number().int(),
});

/** The calibrated judge: its spec (and digest), how far humans trust it, and why. */
export const CalibratedJudge = z.object({
  judge: z.string(),
  offline: z.boolean(),
  spec: JudgeSpec,
  specDigest: z.string(),
  development: Agreement,
  heldOut: Agreement,
  iterations: z.number().int(),
  candidatesTried: z.number().int(),
  /** Held-out disagreements where both annotators agree, largest cell first. */
  disagreements: z.array(z.object({ cell: z.string(), items: z.number().int() })),
});
export type CalibratedJudge = z.infer<typeof CalibratedJudge>;

function summarize(score: AgreementScore, items: readonly CalibrationItem[], lowerBound: number | null): z.infer<typeof Agreement> {
  const ceiling = cohenKappa(
    items.map((i) => i.humans[0]),
    items.map((i) => i.humans[1]),
    { labels: [...JUDGE_LABELS] },
  );
  const [a, b] = score.humans;
  return {
    kappa: [a.defined ? a.kappa : null, b.defined ? b.kappa : null],
    ci: [a.defined ? a.ci : null, b.defined ? b.ci : null],
    mean: score.mean,
    ceiling: ceiling.defined ? ceiling.kappa : null,
    lowerBound,
    items: items.length,
    unjudged: score.unjudged,
  };
}

/**
 * Calibrates the judge against human labels: searches judge specs (rubric variants, few-shot examples
 * drawn from development-set disagreements) choosing on the development part, and reports the chosen
 * spec on the held-out part — kappa against each annotator with its interval beside the annotators'
 * own agreement, the confusion matrix, disagreements by cell, pattern and slice, and the search history.
 */
export const calibrateJudge = defineStep({
  id: 'judge-calibrate',
  version: 2,
  description: "Calibrate the LLM judge against human labels (Cohen's kappa), choosing on development data",
  config: z.object({
    ...JUDGE_ENDPOINT_CONFIG,
    /** `offline-rules` (labelled offline) or a model on an OpenAI-compatible endpoint. */
    model: z.string().default(OFFLINE_MODEL),
    /** The first-draft rubric the search starts from. */
    startRubric: z.enum(Object.keys(RUBRICS) as [string, ...string[]]).default('lenient'),
    /** Rubric variants the search may switch to. */
    rubrics: z.array(z.enum(Object.keys(RUBRICS) as [string, ...string[]])).default(Object.keys(RUBRICS)),
    maxIterations: z.number().int().min(0).max(50).default(6),
    maxFewShot: z.number().int().min(0).max(20).default(6),
    fewShotCandidates: z.number().int().min(0).max(10).default(3),
    minGain: z.number().min(0).default(0.005),
    /** Drawn as the trust bar in the report's chart; the judge-trust step enforces its own. */
    trustThreshold: z.number().min(-1).max(1).default(0.6),
  }),
  inputs: { calibration: file() },
  outputs: { judge: json(CalibratedJudge), report: dir() },
  env: ['OPENAI_BASE_URL'],
  async run({ config, inputs, outputs, log, span, usage }) {
    const items = (await readFile(inputs.calibration, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const runner = judgeRunner(config.model, config, 'judge-calibrate.model=<model>', { span, usage });
    if (runner.offline) log.warn('offline judge: rules stand in for the LLM judge (labelled offline in the report)');
    const base = specWithRubric(defaultJudgeSpec(config.model), config.startRubric);
    const result = await searchJudgeSpec(items, (spec, part) => runner.judge(spec, part), base, config);
    const development = items.filter((i) => i.split === 'development');
    const heldOut = items.filter((i) => i.split === 'held-out');
    const { development: devLabels, heldOut: heldLabels } = result.chosenLabels;
    const calibrated: CalibratedJudge = {
      judge: runner.id,
      offline: runner.offline,
      spec: result.chosen,
      specDigest: specDigest(result.chosen),
      development: summarize(agreement(devLabels, development), development, null),
      heldOut: summarize(agreement(heldLabels, heldOut), heldOut, meanKappaLowerBound(heldOut, heldLabels)),
      iterations: result.history.length - 1,
      candidatesTried: result.candidatesTried,
      disagreements: [...disagreementCells(heldOut, heldLabels).entries()]
        .sort((a, b) => b[1].length - a[1].length)
        .map(([cell, members]) => ({ cell, items: members.length })),
    };
    const title = `Judge calibration — ${runner.id}${runner.offline ? ' (offline judge)' : ''}`;
    const blocks: ReportBlock[] = [
      { kind: 'heading', level: 1, text: title },
      {
        kind: 'paragraph',
        text: `Spec ${calibrated.specDigest.slice(0, 12)}: rubric "${result.chosen.rubricName}", ${result.chosen.fewShot.length === 0 ? 'no few-shot examples' : `few-shot examples ${result.chosen.fewShot.map((e) => e.from).join(' ')}`}. Chosen on the development part (${development.length} items) after ${calibrated.iterations} accepted change(s) and ${result.candidatesTried} candidate specs; reported on the held-out part (${heldOut.length} items).`,
      },
      {
        kind: 'paragraph',
        text: `Held-out kappa, mean over the two annotators: ${calibrated.heldOut.mean?.toFixed(3) ?? 'undefined'}, ${TRUST_CONFIDENCE * 100}% lower bound ${calibrated.heldOut.lowerBound?.toFixed(3) ?? 'undefined'} (bootstrap over items; human ceiling ${calibrated.heldOut.ceiling?.toFixed(3) ?? '–'}; development part ${calibrated.development.mean?.toFixed(3) ?? 'undefined'}). The judge-trust step decides whether its verdicts may act.${calibrated.heldOut.unjudged > 0 ? ` ${calibrated.heldOut.unjudged} item(s) got no valid judgement and are left out.` : ''}`,
      },
      { kind: 'heading', text: 'Agreement on the held-out part' },
      { kind: 'table', rows: agreementTable(heldOut, heldLabels) },
      { kind: 'heading', text: 'Agreement on the development part' },
      { kind: 'table', rows: agreementTable(development, devLabels) },
      { kind: 'heading', text: 'Confusion matrix (held-out)' },
      { kind: 'table', rows: confusionTable(heldOut, heldLabels) },
      { kind: 'heading', text: 'Disagreements (held-out, where the annotators agree)' },
      { kind: 'table', rows: disagreementTable(heldOut, heldLabels) },
      { kind: 'heading', text: 'By slice (held-out)' },
      { kind: 'table', rows: sliceTable(heldOut, heldLabels) },
      { kind: 'heading', text: 'Label rates (held-out and all items)' },
      {
        kind: 'table',
        rows: labelRateTable([
          { part: 'held-out', rates: labelRates(heldOut, heldLabels) },
          { part: 'all items', rates: labelRates([...development, ...heldOut], [...devLabels, ...heldLabels]) },
        ]),
      },
      { kind: 'heading', text: 'Calibration history' },
      ...historyBlocks(result.history, config.trustThreshold, { development: calibrated.development.ceiling, heldOut: calibrated.heldOut.ceiling }),
    ];
    await writeReport(outputs.report, title, blocks);
    log.info(
      {
        judge: runner.id,
        spec: calibrated.specDigest.slice(0, 12),
        heldOutKappa: calibrated.heldOut.mean,
        lowerBound: calibrated.heldOut.lowerBound,
        development: calibrated.development.mean,
        ...runner.stats(),
      },
      'judge calibrated',
    );
    return { judge: calibrated };
  },
});
