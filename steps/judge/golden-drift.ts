import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, FlywheelError, json, writeFileWhole, withFileLock, fileState } from 'flywheel';
import { snapshotStep } from '../flow-agent/collect.js';
import { lineChart, toHtml, toMarkdown, type ReportBlock } from '../report-document.js';
import { cohenKappa } from './agreement.js';
import { CalibratedJudge } from './calibrate-judge.js';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { JUDGE_ENDPOINT_CONFIG, judgeRunner } from './judge-runner.js';

/** The frozen golden set (data/judge/golden.jsonl), keyed by its content. */
export const snapshotGolden = snapshotStep('judge-snapshot-golden', 'judge golden set', 'golden.jsonl');

const Counts = z.record(z.string(), z.number().int());
export const GoldenEntry = z.object({
  runId: z.string(),
  at: z.string(),
  judge: z.string(),
  specDigest: z.string(),
  kappa: z.number().nullable(),
  ci: z.tuple([z.number(), z.number()]).nullable(),
  labels: Counts,
  status: z.enum(['baseline', 'stable', 'drift']),
  reasons: z.array(z.string()),
});
export type GoldenEntry = z.infer<typeof GoldenEntry>;
const GoldenHistory = z.object({ entries: z.array(GoldenEntry) });

export const GoldenDrift = GoldenEntry.extend({ baseline: GoldenEntry.nullable(), labelShiftP: z.number().nullable() });
export type GoldenDrift = z.infer<typeof GoldenDrift>;

/** Upper tail of the chi-square distribution for 1 or 2 degrees of freedom (3 labels at most). */
function chiSquareSurvival(x: number, df: number): number {
  if (df <= 0) return 1;
  if (df === 2) return Math.exp(-x / 2);
  // df 1: P(Z² > x) = erfc(sqrt(x / 2)), with Abramowitz–Stegun 7.1.26 for erf.
  const z = Math.sqrt(x / 2);
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-z * z);
  return 1 - erf;
}

/** Chi-square test of homogeneity between two label distributions: the p-value that they share one. */
export function labelShiftP(a: Record<string, number>, b: Record<string, number>): number {
  const labels = JUDGE_LABELS.filter((l) => (a[l] ?? 0) + (b[l] ?? 0) > 0);
  const [na, nb] = [labels.reduce((s, l) => s + (a[l] ?? 0), 0), labels.reduce((s, l) => s + (b[l] ?? 0), 0)];
  if (na === 0 || nb === 0) return 1;
  let x = 0;
  for (const l of labels) {
    const column = (a[l] ?? 0) + (b[l] ?? 0);
    for (const [observed, rowTotal] of [
      [a[l] ?? 0, na],
      [b[l] ?? 0, nb],
    ] as const) {
      const expected = (rowTotal * column) / (na + nb);
      x += (observed - expected) ** 2 / expected;
    }
  }
  return chiSquareSurvival(x, labels.length - 1);
}

/** Drift against the accepted baseline: kappa outside the baseline's interval, or a label shift at `alpha`. */
export function judgeDrift(
  current: Pick<GoldenEntry, 'kappa' | 'labels'>,
  baseline: GoldenEntry,
  alpha: number,
): { drift: boolean; reasons: string[]; p: number } {
  const reasons: string[] = [];
  if (current.kappa === null) reasons.push('kappa on the golden set is undefined');
  else if (baseline.ci !== null && (current.kappa < baseline.ci[0] || current.kappa > baseline.ci[1])) {
    reasons.push(
      `golden-set kappa ${current.kappa.toFixed(3)} is outside the baseline's interval [${baseline.ci[0].toFixed(3)}, ${baseline.ci[1].toFixed(3)}] (run ${baseline.runId})`,
    );
  }
  const p = labelShiftP(baseline.labels, current.labels);
  if (p < alpha)
    reasons.push(
      `the label distribution shifted (chi-square p = ${p.toExponential(2)} < ${alpha}): ${JSON.stringify(baseline.labels)} → ${JSON.stringify(current.labels)}`,
    );
  return { drift: reasons.length > 0, reasons, p };
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
 * Re-scores the frozen golden set with the current judge every run and compares it with the accepted
 * baseline (the first run, or one accepted with acceptBaseline): kappa outside the baseline's interval,
 * or a shifted label distribution, is drift, which fails the run (or warns). The history is kept
 * across runs (FLYWHEEL_JUDGE_HISTORY) and charted. A live LLM judge is re-asked every run, without the
 * memo (its provider can change under the same model name); the deterministic offline judge is cached.
 */
export const goldenDrift = defineStep({
  id: 'judge-golden-drift',
  version: 1,
  description: 'Re-score the frozen golden set with the judge and alarm on drift from the accepted baseline',
  config: z.object({
    ...JUDGE_ENDPOINT_CONFIG,
    onDrift: z.enum(['fail', 'warn']).default('fail'),
    alpha: z.number().min(0).max(1).default(0.01),
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
  async run({ config, inputs, outputs, runId, log }) {
    const golden = (await readFile(inputs.golden, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const runner = judgeRunner(inputs.judge.spec.model, { ...config, memo: !config.liveJudge }, "judge-golden-drift (the calibrated spec's model)");
    const judged = await runner.judge(inputs.judge.spec, golden);
    const kept = golden.flatMap((item, i) => (judged[i] === null || judged[i] === undefined ? [] : [{ item, label: judged[i] as JudgeLabel }]));
    const kappa = cohenKappa(
      kept.map((k) => k.label),
      kept.map((k) => k.item.humans[0]),
      { labels: [...JUDGE_LABELS] },
    );
    const labels = Object.fromEntries(JUDGE_LABELS.map((l) => [l, kept.filter((k) => k.label === l).length]));
    const path = historyPath(config.history);
    await mkdir(join(path, '..'), { recursive: true });
    const { entry, baseline, p, history } = await withFileLock(`${path}.lock`, async () => {
      let entry: GoldenEntry;
      let p: number | null = null;
      const before = (await readHistory(path)).entries;
      const baseline = [...before].reverse().find((e) => e.status === 'baseline') ?? null;
      const current = {
        runId,
        at: new Date().toISOString(),
        judge: runner.id,
        specDigest: inputs.judge.specDigest,
        kappa: kappa.defined ? kappa.kappa : null,
        ci: kappa.defined ? kappa.ci : null,
        labels,
      };
      if (baseline === null || config.acceptBaseline) {
        entry = {
          ...current,
          status: 'baseline',
          reasons: [baseline === null ? 'first golden-set score: the accepted baseline' : 'accepted as the new baseline (acceptBaseline)'],
        };
      } else {
        const verdict = judgeDrift(current, baseline, config.alpha);
        p = verdict.p;
        entry = {
          ...current,
          status: verdict.drift ? 'drift' : 'stable',
          reasons: verdict.drift ? verdict.reasons : [`within the baseline of run ${baseline.runId}`],
        };
      }
      const history = [...before, entry];
      await writeFileWhole(path, `${JSON.stringify({ entries: history }, null, 2)}\n`);
      return { entry, baseline, p, history };
    });
    const title = `Judge drift on the golden set — ${runner.id}${runner.offline ? ' (offline judge)' : ''}`;
    const blocks: ReportBlock[] = [
      { kind: 'heading', level: 1, text: title },
      {
        kind: 'paragraph',
        text: `${golden.length} golden items, ${golden.length - kept.length} without a valid judgement. Status: ${entry.status}. ${entry.reasons.join(' ')}`,
      },
      {
        kind: 'figure',
        caption: "Golden-set kappa per run, with the accepted baseline's interval.",
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
        kind: 'table',
        rows: [
          ['run', 'at', 'spec', 'kappa', '95% CI', ...JUDGE_LABELS, 'status'],
          ...history.map((e) => [
            e.runId,
            e.at,
            e.specDigest.slice(0, 12),
            e.kappa?.toFixed(3) ?? '–',
            e.ci ? `[${e.ci[0].toFixed(3)}, ${e.ci[1].toFixed(3)}]` : '–',
            ...JUDGE_LABELS.map((l) => String(e.labels[l] ?? 0)),
            e.status,
          ]),
        ],
      },
    ];
    await mkdir(outputs.report, { recursive: true });
    await writeFile(join(outputs.report, 'report.md'), toMarkdown(blocks));
    await writeFile(join(outputs.report, 'report.html'), toHtml(title, blocks));
    if (entry.status === 'drift') {
      if (config.onDrift === 'fail') {
        throw new FlywheelError('JUDGE_DRIFT', `the judge drifted on the golden set: ${entry.reasons.join('; ')}`, {
          retryable: false,
          fix: "find out what changed (the provider's model, the spec); if the change is deliberate, accept it with --set judge-drift.acceptBaseline=true; or set judge-drift.onDrift=warn",
        });
      }
      log.warn({ reasons: entry.reasons }, 'the judge drifted on the golden set (onDrift=warn)');
    }
    return { drift: { ...entry, baseline, labelShiftP: p } };
  },
});
