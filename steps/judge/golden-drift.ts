import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json, sha256Bytes, writeFileWhole, withFileLock, fileState } from 'flywheel';
import { snapshotStep } from '../flow-agent/collect.js';
import { lineChart, type ReportBlock, writeReport } from '../report-document.js';
import { cohenKappa } from '../stats/agreement.js';
import { pairedKappaChange, stuartMaxwell } from '../stats/paired-tests.js';
import { CalibratedJudge } from './calibrate-judge.js';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from './judge-runner.js';
import { CUSUM, SequentialDrift, sequentialDrift, type WeekLabels } from './sequential-drift.js';

/** The frozen golden set (data/judge/golden.jsonl), keyed by its content. */
export const snapshotGolden = snapshotStep('judge-snapshot-golden', 'judge golden set', 'golden.jsonl');

const Counts = z.record(z.string(), z.number().int());
const LabelShift = z.object({ statistic: z.number(), df: z.number().int(), p: z.number(), discordant: z.number().int() });
const KappaChange = z.object({
  before: z.number().nullable(),
  after: z.number().nullable(),
  delta: z.number().nullable(),
  ci: z.tuple([z.number(), z.number()]).nullable(),
});
export const GoldenEntry = z.object({
  runId: z.string(),
  at: z.string(),
  judge: z.string(),
  specDigest: z.string(),
  /** SHA-256 of the golden set judged: a baseline only pairs with the same items. */
  goldenDigest: z.string().optional(),
  kappa: z.number().nullable(),
  ci: z.tuple([z.number(), z.number()]).nullable(),
  labels: Counts,
  /** The judge's label per golden item id (items without a valid judgement are absent): what the paired tests pair. */
  items: z.record(z.string(), z.enum(JUDGE_LABELS)).optional(),
  status: z.enum(['baseline', 'stable', 'drift']),
  reasons: z.array(z.string()),
  /** Against the baseline, same items: marginal homogeneity (Stuart–Maxwell) and the paired kappa change. */
  labelShift: LabelShift.nullable().optional(),
  kappaChange: KappaChange.nullable().optional(),
  /** The sequential test over the runs since the baseline (absent in entries recorded before it). */
  sequential: SequentialDrift.nullable().optional(),
});
export type GoldenEntry = z.infer<typeof GoldenEntry>;
const GoldenHistory = z.object({ entries: z.array(GoldenEntry) });

const BaselineSummary = GoldenEntry.omit({ items: true });
export const GoldenDrift = GoldenEntry.extend({ baseline: BaselineSummary.nullable() });
export type GoldenDrift = z.infer<typeof GoldenDrift>;

export interface DriftVerdict {
  drift: boolean;
  reasons: string[];
  labelShift: z.infer<typeof LabelShift> | null;
  kappaChange: z.infer<typeof KappaChange> | null;
}

/**
 * Drift against the accepted baseline, on the items both judged (the same items judged twice, so the
 * tests are paired): the label distribution moved (Stuart–Maxwell, p < alpha/2), or kappa against the
 * reference labels changed (paired bootstrap interval of the change at 1 − alpha/2 excludes 0). The two
 * halves of alpha (Bonferroni) hold the pair's false-alarm rate near alpha: both tests are large-sample
 * approximations, measured at 2.0–2.8% for alpha 0.02 (docs/judge.md).
 */
export function judgeDrift(
  current: Record<string, JudgeLabel>,
  baseline: Record<string, JudgeLabel>,
  reference: Record<string, JudgeLabel>,
  options: { alpha: number; baselineRun: string; samples?: number; seed?: number },
): DriftVerdict {
  const ids = Object.keys(reference).filter((id) => current[id] !== undefined && baseline[id] !== undefined);
  const before = ids.map((id) => baseline[id] as JudgeLabel);
  const after = ids.map((id) => current[id] as JudgeLabel);
  const labelShift = stuartMaxwell(before, after, JUDGE_LABELS);
  const kappaChange = pairedKappaChange(
    before,
    after,
    ids.map((id) => reference[id] as JudgeLabel),
    { labels: [...JUDGE_LABELS], level: 1 - options.alpha / 2, samples: options.samples ?? 2000, seed: options.seed ?? 1 },
  );
  const reasons: string[] = [];
  const count = (labels: readonly string[]): string => JUDGE_LABELS.map((l) => `${l} ${labels.filter((x) => x === l).length}`).join(', ');
  if (kappaChange.after === null) reasons.push('kappa on the golden set is undefined');
  if (labelShift.p < options.alpha / 2)
    reasons.push(
      `the judge labels the same ${ids.length} items differently (${labelShift.discordant} changed; Stuart–Maxwell p = ${labelShift.p.toExponential(2)} < ${options.alpha / 2}): ${count(before)} → ${count(after)}`,
    );
  const { ci, delta } = kappaChange;
  if (ci !== null && delta !== null && (ci[0] > 0 || ci[1] < 0))
    reasons.push(
      `golden-set kappa moved ${kappaChange.before?.toFixed(3)} → ${kappaChange.after?.toFixed(3)} (change ${delta.toFixed(3)}, paired ${((1 - options.alpha / 2) * 100).toFixed(0)}% interval [${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}] excludes 0)`,
    );
  const drift = reasons.length > 0;
  if (!drift)
    reasons.push(
      `within the baseline of run ${options.baselineRun}: ${labelShift.discordant} of ${ids.length} items labelled differently (p = ${labelShift.p.toPrecision(2)}), kappa change ${delta?.toFixed(3) ?? '–'}`,
    );
  return { drift, reasons, labelShift, kappaChange };
}

/** The runs since the accepted baseline as the sequential test reads them, this run last. */
function weeksSince(before: readonly GoldenEntry[], baseline: GoldenEntry, current: { runId: string; items: Record<string, JudgeLabel> }): WeekLabels[] {
  const after = before.slice(before.lastIndexOf(baseline) + 1).filter((e) => e.items !== undefined);
  return [
    { runId: baseline.runId, items: baseline.items ?? {}, inControl: true },
    ...after.map((e) => ({ runId: e.runId, items: e.items ?? {}, inControl: e.status !== 'drift' })),
    { ...current, inControl: true },
  ];
}

/** The sequential alarm's reason: which way, since which run, over how many. */
function sequentialReason(s: SequentialDrift, baselineRun: string): string {
  const sum = s.alarm === 'lenient' ? s.upper : s.lower;
  return `sequential test (two-sided CUSUM over the ${s.weeks} runs since the baseline of run ${baselineRun}): the judge has labelled the golden set more ${s.alarm} than the runs before it, building up since run ${s.since ?? '–'} (cumulative sum ${sum.toFixed(2)} > ${s.threshold} standard deviations)`;
}

/** Why this run cannot be paired with the baseline and becomes the new one, or null when it can. */
function rebaselineReason(baseline: GoldenEntry | null, goldenDigest: string, acceptBaseline: boolean): string | null {
  if (baseline === null) return 'first golden-set score: the accepted baseline';
  if (acceptBaseline) return 'accepted as the new baseline (acceptBaseline)';
  if (baseline.items === undefined)
    return `the baseline of run ${baseline.runId} has no per-item labels to pair with (recorded by an older version): this run is the new baseline`;
  if (baseline.goldenDigest !== goldenDigest)
    return `the golden set changed since the baseline of run ${baseline.runId} (${baseline.goldenDigest?.slice(0, 12) ?? '–'} → ${goldenDigest.slice(0, 12)}): this run is the new baseline`;
  return null;
}

function historyPath(location: string | undefined): string {
  return join(resolve(location ?? process.env.FLYWHEEL_JUDGE_HISTORY ?? join('.flywheel', 'judge-history')), 'golden-history.json');
}

async function readHistory(path: string): Promise<z.infer<typeof GoldenHistory>> {
  try {
    return GoldenHistory.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [] };
    throw new FlywheelError('JUDGE_HISTORY_UNREADABLE', `${path} is not a golden-set history: ${(error as Error).message}`, {
      retryable: false,
      fix: 'restore it from a backup, or move it away to start a new baseline',
    });
  }
}

/**
 * Re-scores the frozen golden set with the current judge every run and compares it, item by item, with
 * the accepted baseline (the first run, one accepted with acceptBaseline, or the first run on a changed
 * golden set): a shifted label distribution or a kappa change is drift. This step only measures and
 * records; the judge-trust step decides what drift stops. The history is kept across runs
 * (FLYWHEEL_JUDGE_HISTORY) and charted. A live LLM judge is re-asked every run, without the memo (its
 * provider can change under the same model name); the deterministic offline judge is cached.
 */
export const goldenDrift = defineStep({
  id: 'judge-golden-drift',
  version: 2,
  description: 'Re-score the frozen golden set with the judge and test for drift from the accepted baseline (paired)',
  config: z.object({
    ...JUDGE_ENDPOINT_CONFIG,
    /** False-alarm rate of the drift test (split between its two parts). */
    alpha: z.number().gt(0).lt(1).default(0.02),
    /** Folder of the history; default FLYWHEEL_JUDGE_HISTORY, else .flywheel/judge-history. */
    history: z.string().optional(),
    /** Re-ask the judge every run (an LLM judge); false for a deterministic judge. */
    liveJudge: z.boolean().default(false),
    /** Make this run the new baseline (after a deliberate judge change). */
    acceptBaseline: z.boolean().default(false),
  }),
  inputs: { judge: json(CalibratedJudge), golden: file() },
  outputs: { drift: json(GoldenDrift), report: dir() },
  env: ['OPENAI_BASE_URL'],
  // The history is outside state (and this step appends to it: convergent); a live judge is never assumed unchanged.
  external: async (config) => ({
    history: await fileState(historyPath(config.history)),
    ...(config.liveJudge ? { asked: randomBytes(8).toString('hex') } : {}),
  }),
  convergent: true,
  async run({ config, inputs, outputs, runId, log, span, usage }) {
    const bytes = await readFile(inputs.golden);
    const golden = bytes
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const runner = judgeRunner(inputs.judge.spec.model, { ...config, memo: !config.liveJudge }, "judge-golden-drift (the calibrated spec's model)", {
      span,
      usage,
    });
    const judged = await runner.judge(inputs.judge.spec, golden);
    const kept = golden.flatMap((item, i) => (judged[i] === null || judged[i] === undefined ? [] : [{ item, label: judged[i] as JudgeLabel }]));
    const kappa = cohenKappa(
      kept.map((k) => k.label),
      kept.map((k) => k.item.humans[0]),
      { labels: [...JUDGE_LABELS] },
    );
    const labels = Object.fromEntries(JUDGE_LABELS.map((l) => [l, kept.filter((k) => k.label === l).length]));
    const items = Object.fromEntries(kept.map((k) => [k.item.id, k.label]));
    const reference = Object.fromEntries(golden.map((g) => [g.id, g.humans[0]]));
    const goldenDigest = sha256Bytes(bytes);
    const path = historyPath(config.history);
    await mkdir(join(path, '..'), { recursive: true });
    const { entry, baseline, history } = await withFileLock(`${path}.lock`, async () => {
      const before = (await readHistory(path)).entries;
      const baseline = [...before].reverse().find((e) => e.status === 'baseline') ?? null;
      const current = {
        runId,
        at: new Date().toISOString(),
        judge: runner.id,
        specDigest: inputs.judge.specDigest,
        goldenDigest,
        kappa: kappa.defined ? kappa.kappa : null,
        ci: kappa.defined ? kappa.ci : null,
        labels,
        items,
      };
      const rebaseline = rebaselineReason(baseline, goldenDigest, config.acceptBaseline);
      let entry: GoldenEntry;
      if (rebaseline !== null || baseline === null) {
        entry = { ...current, status: 'baseline', reasons: [rebaseline ?? ''], labelShift: null, kappaChange: null, sequential: null };
      } else {
        // Two tests: this week against the baseline (a sudden shift), and the weeks since it together (a small persistent one).
        const verdict = judgeDrift(items, baseline.items ?? {}, reference, { alpha: config.alpha, baselineRun: baseline.runId });
        const sequential = sequentialDrift(weeksSince(before, baseline, { runId, items }));
        const alarm = sequential?.alarm != null;
        entry = {
          ...current,
          status: verdict.drift || alarm ? 'drift' : 'stable',
          reasons: alarm ? [...(verdict.drift ? verdict.reasons : []), sequentialReason(sequential as SequentialDrift, baseline.runId)] : verdict.reasons,
          labelShift: verdict.labelShift,
          kappaChange: verdict.kappaChange,
          sequential,
        };
      }
      const history = [...before, entry];
      await writeFileWhole(path, `${JSON.stringify({ entries: history }, null, 2)}\n`);
      return { entry, baseline, history };
    });
    await writeDriftReport(outputs.report, { runner, golden: golden.length, kept: kept.length, entry, baseline, history });
    if (entry.status === 'drift')
      log.warn({ reasons: entry.reasons }, 'the judge drifted on the golden set: the judge-trust step will stop its verdicts from acting');
    return { drift: { ...entry, baseline: baseline === null ? null : BaselineSummary.parse(baseline) } };
  },
});

async function writeDriftReport(
  folder: string,
  facts: {
    runner: { id: string; offline: boolean };
    golden: number;
    kept: number;
    entry: GoldenEntry;
    baseline: GoldenEntry | null;
    history: readonly GoldenEntry[];
  },
): Promise<void> {
  const { runner, entry, baseline, history } = facts;
  const title = `Judge drift on the golden set — ${runner.id}${runner.offline ? ' (offline judge)' : ''}`;
  const blocks: ReportBlock[] = [
    { kind: 'heading', level: 1, text: title },
    {
      kind: 'paragraph',
      text: `${facts.golden} golden items, ${facts.golden - facts.kept} without a valid judgement. Status: ${entry.status}. ${entry.reasons.join(' ')}`,
    },
    {
      kind: 'figure',
      caption: "Golden-set kappa per run (against the items' reference labels), with the accepted baseline's interval.",
      svg: lineChart({
        series: [{ name: 'golden-set kappa', values: history.map((e) => e.kappa), color: '#1f6fb2' }],
        references: baseline?.ci
          ? [
              { name: 'baseline low', value: baseline.ci[0], color: '#b00020' },
              { name: 'baseline high', value: baseline.ci[1], color: '#b00020' },
            ]
          : [],
        yRange: [Math.min(0, ...history.map((e) => e.kappa ?? 0)), 1],
        xLabel: 'run',
      }),
    },
    {
      kind: 'figure',
      caption: `Sequential test per run since the baseline: the lenient (labels moving up) and harsh cumulative sums, in standard deviations; it alarms above ${CUSUM.threshold}.`,
      svg: lineChart({
        series: [
          { name: 'lenient CUSUM', values: history.map((e) => e.sequential?.upper ?? null), color: '#b26b00' },
          { name: 'harsh CUSUM', values: history.map((e) => e.sequential?.lower ?? null), color: '#6b3fa0' },
        ],
        references: [{ name: 'threshold', value: CUSUM.threshold, color: '#b00020' }],
        yRange: [0, Math.max(CUSUM.threshold + 1, ...history.map((e) => Math.max(e.sequential?.upper ?? 0, e.sequential?.lower ?? 0)))],
        xLabel: 'run',
      }),
    },
    {
      kind: 'table',
      rows: [
        ['run', 'at', 'spec', 'kappa', '95% CI', ...JUDGE_LABELS, 'changed items', 'Stuart–Maxwell p', 'kappa change [CI]', 'CUSUM lenient / harsh', 'status'],
        ...history.map((e) => [
          e.runId,
          e.at,
          e.specDigest.slice(0, 12),
          e.kappa?.toFixed(3) ?? '–',
          e.ci ? `[${e.ci[0].toFixed(3)}, ${e.ci[1].toFixed(3)}]` : '–',
          ...JUDGE_LABELS.map((l) => String(e.labels[l] ?? 0)),
          e.labelShift ? String(e.labelShift.discordant) : '–',
          e.labelShift ? e.labelShift.p.toPrecision(2) : '–',
          e.kappaChange?.delta != null && e.kappaChange.ci
            ? `${e.kappaChange.delta.toFixed(3)} [${e.kappaChange.ci[0].toFixed(3)}, ${e.kappaChange.ci[1].toFixed(3)}]`
            : '–',
          e.sequential
            ? `${e.sequential.upper.toFixed(2)} / ${e.sequential.lower.toFixed(2)}${e.sequential.alarm === null ? '' : ` (${e.sequential.alarm} since ${e.sequential.since ?? '–'})`}`
            : '–',
          e.status,
        ]),
      ],
    },
  ];
  await writeReport(folder, title, blocks);
}
