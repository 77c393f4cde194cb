import { lineChart, type ReportBlock } from '../report-document.js';
import { cohenKappa, type KappaResult } from '../stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { agreement, disagreementCells, type SearchStep } from './calibration-search.js';

const LABELS = [...JUDGE_LABELS];
const fmt = (k: KappaResult): string => (k.defined ? k.kappa.toFixed(3) : `undefined (${k.reason})`);
const ci = (k: KappaResult): string => (k.defined ? `[${k.ci[0].toFixed(3)}, ${k.ci[1].toFixed(3)}]` : '–');

/** Judge vs each annotator beside the annotators' own agreement (the ceiling), for one part of the set. */
export function agreementTable(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): string[][] {
  const score = agreement(judged, items);
  const ceiling = cohenKappa(
    items.map((i) => i.humans[0]),
    items.map((i) => i.humans[1]),
    { labels: LABELS },
  );
  return [
    ['raters', 'kappa', '95% CI', 'items'],
    ['judge vs annotator 1', fmt(score.humans[0]), ci(score.humans[0]), String(score.humans[0].n)],
    ['judge vs annotator 2', fmt(score.humans[1]), ci(score.humans[1]), String(score.humans[1].n)],
    ['annotator 1 vs annotator 2 (ceiling)', fmt(ceiling), ci(ceiling), String(ceiling.n)],
  ];
}

/** Rows: the judge's label; columns: annotator 1's. */
export function confusionTable(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): string[][] {
  const counts = LABELS.map(() => LABELS.map(() => 0));
  items.forEach((item, i) => {
    const label = judged[i];
    if (label === null || label === undefined) return;
    const row = counts[LABELS.indexOf(label)] as number[];
    const column = LABELS.indexOf(item.humans[0]);
    row[column] = (row[column] ?? 0) + 1;
  });
  return [['judge ↓ / annotator 1 →', ...LABELS], ...LABELS.map((label, r) => [label, ...(counts[r] as number[]).map(String)])];
}

/** Disagreements where both annotators agree, by confusion cell; two scale steps apart is dangerous. */
export function disagreementTable(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): string[][] {
  const rows = [...disagreementCells(items, judged).entries()].sort((a, b) => b[1].length - a[1].length);
  return [
    ['judge → annotators', 'items', 'dangerous', 'patterns', 'slices', 'examples'],
    ...rows.map(([cell, members]) => {
      const [judge, human] = cell.split(' → ') as [JudgeLabel, JudgeLabel];
      const count = (key: (m: CalibrationItem) => string): string =>
        Object.entries(members.reduce<Record<string, number>>((acc, m) => ({ ...acc, [key(m)]: (acc[key(m)] ?? 0) + 1 }), {}))
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
      return [
        cell,
        String(members.length),
        Math.abs(LABELS.indexOf(judge) - LABELS.indexOf(human)) >= 2 ? 'yes' : 'no',
        count((m) => m.pattern),
        count((m) => m.slice),
        members
          .slice(0, 3)
          .map((m) => m.id)
          .join(' '),
      ];
    }),
  ];
}

/** Kappa against each annotator per slice, with its interval: slices are small (tens of items) and their intervals wide. */
export function sliceTable(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): string[][] {
  const slices = [...new Set(items.map((i) => i.slice))].sort();
  return [
    ['slice', 'items', 'judge vs annotator 1', '95% CI', 'judge vs annotator 2', '95% CI'],
    ...slices.map((slice) => {
      const part = items.flatMap((item, i) => (item.slice === slice ? [{ item, label: judged[i] ?? null }] : []));
      const score = agreement(
        part.map((p) => p.label),
        part.map((p) => p.item),
      );
      return [slice, String(part.length), fmt(score.humans[0]), ci(score.humans[0]), fmt(score.humans[1]), ci(score.humans[1])];
    }),
  ];
}

/** Each part's human ceiling (annotator 1 vs annotator 2 on that part's items); null where it is undefined. */
export interface Ceilings {
  development: number | null;
  heldOut: number | null;
}

/** The search history: each series charted against the ceiling of its own part, and the table of accepted changes. */
export function historyBlocks(history: readonly SearchStep[], threshold: number, ceilings: Ceilings): ReportBlock[] {
  const DEVELOPMENT = '#1f6fb2';
  const HELD_OUT = '#d9730d';
  const series = [
    { name: 'development (chooses)', values: history.map((h) => h.development.mean), color: DEVELOPMENT },
    { name: 'held-out (reported)', values: history.map((h) => h.heldOut.mean), color: HELD_OUT },
  ];
  const references = [
    { name: 'trust bar', value: threshold, color: '#b00020' },
    ...(ceilings.development === null ? [] : [{ name: 'development ceiling', value: ceilings.development, color: DEVELOPMENT }]),
    ...(ceilings.heldOut === null ? [] : [{ name: 'held-out ceiling', value: ceilings.heldOut, color: HELD_OUT }]),
  ];
  const values = [...series.flatMap((s) => s.values), ...references.map((r) => r.value)].filter((v): v is number => v !== null);
  const low = Math.min(0, ...values);
  return [
    {
      kind: 'figure',
      caption:
        'Mean kappa against the two annotators per search iteration: chosen on the development part, reported on the held-out part. Each series has the human ceiling of its own part (annotator 1 vs annotator 2 on the same items), dashed in its colour.',
      svg: lineChart({ series, references, yRange: [low, 1], xLabel: 'iteration' }),
    },
    {
      kind: 'table',
      rows: [
        ['iteration', 'change', 'rubric', 'few-shot', 'development kappa', 'held-out kappa', 'spec'],
        ...history.map((h) => [
          String(h.iteration),
          h.change,
          h.rubricName,
          h.fewShot.join(' ') || '–',
          h.development.mean?.toFixed(3) ?? '–',
          h.heldOut.mean?.toFixed(3) ?? '–',
          h.specDigest.slice(0, 12),
        ]),
      ],
    },
  ];
}
