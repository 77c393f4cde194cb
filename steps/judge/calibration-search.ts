import { cohenKappa, type KappaResult } from '../stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem, type JudgeLabel } from './calibration-generator.js';
import { RUBRICS, specDigest, specWithRubric, type JudgeSpec } from './judge-spec.js';

/** Labels a list of items with a judge spec (offline rules or an LLM); null where no valid judgement came back. */
export type JudgeFn = (spec: JudgeSpec, items: readonly CalibrationItem[]) => Promise<Array<JudgeLabel | null>>;

export interface AgreementScore {
  /** Kappa against each annotator, over the items the judge labelled. */
  humans: [KappaResult, KappaResult];
  /** Items without a valid judgement: reported, and left out of kappa. */
  unjudged: number;
  /** Their mean, or null when either is undefined: what the search maximises on the development part. */
  mean: number | null;
}

export interface SearchStep {
  iteration: number;
  change: string;
  specDigest: string;
  rubricName: string;
  fewShot: string[];
  development: AgreementScore;
  /** Measured for the report after the choice was made; never read by the search. */
  heldOut: AgreementScore;
}

export interface SearchResult {
  chosen: JudgeSpec;
  history: SearchStep[];
  /** Candidate specs scored on the development part. */
  candidatesTried: number;
  /** The chosen spec's labels on each part, in item order (null: no valid judgement). */
  chosenLabels: { development: Array<JudgeLabel | null>; heldOut: Array<JudgeLabel | null> };
}

const LABELS = [...JUDGE_LABELS];

export function agreement(judged: ReadonlyArray<JudgeLabel | null>, items: readonly CalibrationItem[]): AgreementScore {
  const kept = items.flatMap((item, i) => (judged[i] === null || judged[i] === undefined ? [] : [{ item, label: judged[i] as JudgeLabel }]));
  const labels = kept.map((k) => k.label);
  const humans: [KappaResult, KappaResult] = [
    cohenKappa(
      labels,
      kept.map((k) => k.item.humans[0]),
      { labels: LABELS },
    ),
    cohenKappa(
      labels,
      kept.map((k) => k.item.humans[1]),
      { labels: LABELS },
    ),
  ];
  const mean = humans[0].defined && humans[1].defined ? (humans[0].kappa + humans[1].kappa) / 2 : null;
  return { humans, unjudged: items.length - kept.length, mean };
}

/** Development items the judge gets wrong where both annotators agree, grouped by confusion cell (judge → humans). */
export function disagreementCells(items: readonly CalibrationItem[], judged: ReadonlyArray<JudgeLabel | null>): Map<string, CalibrationItem[]> {
  const cells = new Map<string, CalibrationItem[]>();
  items.forEach((item, i) => {
    const [a, b] = item.humans;
    const label = judged[i];
    if (label === null || label === undefined || a !== b || label === a) return;
    const cell = `${label} → ${a}`;
    cells.set(cell, [...(cells.get(cell) ?? []), item]);
  });
  return cells;
}

export interface SearchOptions {
  maxIterations: number;
  /** Few-shot examples a spec may hold. */
  maxFewShot: number;
  /** Few-shot candidates per iteration: one from each of the largest disagreement cells. */
  fewShotCandidates: number;
  /** Smallest gain in development kappa that counts as better. */
  minGain: number;
  /** Rubric variants to try (names in RUBRICS); default all. */
  rubrics?: readonly string[];
}

/**
 * Greedy search over judge specs: each iteration scores, on the development part only, every other
 * rubric variant and a few-shot example drawn from each of the largest current disagreement cells,
 * keeps the best if it beats the current spec by `minGain`, and stops otherwise. The held-out part is
 * scored for the report after each choice and never consulted to make one.
 */
export async function searchJudgeSpec(items: readonly CalibrationItem[], judge: JudgeFn, base: JudgeSpec, options: SearchOptions): Promise<SearchResult> {
  const development = items.filter((i) => i.split === 'development');
  const heldOut = items.filter((i) => i.split === 'held-out');
  const scoreOn = async (spec: JudgeSpec, part: readonly CalibrationItem[]): Promise<{ score: AgreementScore; judged: Array<JudgeLabel | null> }> => {
    const judged = await judge(spec, part);
    return { score: agreement(judged, part), judged };
  };
  let heldOutLabels: Array<JudgeLabel | null> = [];
  const record = async (iteration: number, change: string, spec: JudgeSpec, development: AgreementScore): Promise<SearchStep> => {
    const reported = await scoreOn(spec, heldOut);
    heldOutLabels = reported.judged;
    return {
      iteration,
      change,
      specDigest: specDigest(spec),
      rubricName: spec.rubricName,
      fewShot: spec.fewShot.map((e) => e.from),
      development,
      heldOut: reported.score,
    };
  };

  let current = base;
  let currentDev = await scoreOn(current, development);
  let tried = 1;
  const history = [await record(0, 'starting spec', current, currentDev.score)];
  for (let iteration = 1; iteration <= options.maxIterations; iteration++) {
    const candidates: Array<{ spec: JudgeSpec; change: string }> = (options.rubrics ?? Object.keys(RUBRICS))
      .filter((name) => name !== current.rubricName)
      .map((name) => ({ spec: specWithRubric(current, name), change: `rubric ${current.rubricName} → ${name}` }));
    if (current.fewShot.length < options.maxFewShot) {
      const cells = [...disagreementCells(development, currentDev.judged).entries()].sort((x, y) => y[1].length - x[1].length || (x[0] < y[0] ? -1 : 1));
      for (const [cell, members] of cells.slice(0, options.fewShotCandidates)) {
        const example = members.find((m) => !current.fewShot.some((e) => e.from === m.id));
        if (example === undefined) continue;
        const [label] = example.humans;
        const explanation = `annotators labelled it ${label}; the judge had said ${cell.split(' → ')[0] ?? ''}`;
        candidates.push({
          spec: { ...current, fewShot: [...current.fewShot, { from: example.id, request: example.request, output: example.output, label, explanation }] },
          change: `few-shot example ${example.id} for the cell ${cell} (${members.length} items)`,
        });
      }
    }
    let best: { spec: JudgeSpec; change: string; result: Awaited<ReturnType<typeof scoreOn>> } | undefined;
    for (const candidate of candidates) {
      const result = await scoreOn(candidate.spec, development);
      tried += 1;
      if (result.score.mean !== null && (best === undefined || result.score.mean > (best.result.score.mean ?? -Infinity))) best = { ...candidate, result };
    }
    if (best === undefined || (best.result.score.mean ?? -Infinity) < (currentDev.score.mean ?? -Infinity) + options.minGain) break;
    current = best.spec;
    currentDev = best.result;
    history.push(await record(iteration, best.change, current, currentDev.score));
  }
  return { chosen: current, history, candidatesTried: tried, chosenLabels: { development: currentDev.judged, heldOut: heldOutLabels } };
}
