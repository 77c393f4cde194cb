import { writeReport, type ReportBlock } from '../report-document.js';
import type { DeployDecision } from './deploy.js';

const points = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}`;
const VERDICT = { blocks: 'blocks', 'too-small': 'too small to tell', fine: 'fine', new: 'new (production has no score on it)' } as const;

/** Deploy's decision as a report section: what happened and why, and every slice weighed against production. */
export async function writeDecisionReport(
  folder: string,
  decision: DeployDecision,
  gate: { metric: string; maxSliceRegression: number; sliceAlpha: number; minSliceSize: number },
): Promise<void> {
  const outcome = decision.promoted
    ? `v${decision.version} was promoted to production.`
    : `v${decision.version} was kept out of production (production: ${decision.production === null ? 'none' : `v${decision.production}`}).`;
  const blocks: ReportBlock[] = [
    { kind: 'heading', level: 1, text: `Promotion decision — v${decision.version}${decision.newVersion ? ' (new)' : ''}` },
    { kind: 'paragraph', text: outcome },
    ...decision.reasons.map((reason): ReportBlock => ({ kind: 'paragraph', text: `• ${reason}` })),
  ];
  const slices = decision.slices ?? [];
  if (slices.length > 0)
    blocks.push(
      {
        kind: 'paragraph',
        text: `Each slice against production on ${gate.metric}, ${slices[0]?.paired ? 'paired on the examples both models scored' : 'unpaired (production kept no per-example scores)'}. A slice blocks only when it is worse than production by more than ${(gate.maxSliceRegression * 100).toFixed(1)} points, one-sided at α ${gate.sliceAlpha} with Holm's correction across the slices tested; slices under ${gate.minSliceSize} items are too small to tell and never block alone.`,
      },
      {
        kind: 'table',
        rows: [
          ['slice', 'n', 'Δ (pt)', '95% CI (pt)', 'p (one-sided, Holm)', 'verdict'],
          ...slices.map((s) => [
            s.slice,
            String(s.n),
            s.delta === null ? '–' : points(s.delta),
            s.ci === null ? '–' : `[${points(s.ci[0])}, ${points(s.ci[1])}]`,
            s.p === null ? '–' : s.p < 0.001 ? s.p.toExponential(1) : s.p.toFixed(3),
            VERDICT[s.verdict],
          ]),
        ],
      },
    );
  await writeReport(folder, `Promotion decision — v${decision.version}`, blocks);
}
