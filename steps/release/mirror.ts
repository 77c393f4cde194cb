import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, json, writeFileWhole, fileState } from 'flywheel';
import { ModelRegistry, registryLocation } from './model-registry.js';
import { snapshotStep } from '../flow-agent/collect.js';
import { JudgeTrust, untrustedReason } from '../judge/judge-trust.js';
import { meanInterval, signTest } from '../stats/paired-tests.js';
import type { MirrorOutcome } from '../judge/pairwise-judge.js';
import { writeReport } from '../report-document.js';
import { FeedbackExample, feedbackPath } from '../flow-agent/feedback.js';
import type { FlowWorkflow } from '../flow-agent/flow-workflow.js';
import { candidateOf, MirroredRequest, NOTHING_TO_COMPARE, productionState, productionVersion, TrafficRecord } from './mirror-request.js';
import { bySlice } from '../flow-agent/score-workflow.js';
import { ServedModelRef } from '../flow-agent/serve-adapter.js';

export { MIRROR_MIN_SUCCESS_RATIO, MirroredRequest, mirrorRequest, mirrorSample } from './mirror-request.js';

const Tally = z.object({
  n: z.number().int(),
  wins: z.number().int(),
  ties: z.number().int(),
  losses: z.number().int(),
  /** Mean score: a win 1, a tie ½, a loss 0 (0.5: the models are equally good). */
  score: z.number(),
  /** Student-t 95% interval of the mean score (with one pseudo-win and one pseudo-loss). */
  ci: z.tuple([z.number(), z.number()]),
  /** Exact two-sided sign test of wins against losses (ties left out). */
  signTestP: z.number(),
});
export const MirrorResult = z.object({
  /** Why nothing was mirrored (no production model yet), or null. */
  skipped: z.string().nullable(),
  /** Why the judge's verdicts may not act (not trusted, drifting): nothing was judged or fed back; promote is false. */
  refused: z.string().nullable(),
  production: z.string().nullable(),
  candidate: z.string(),
  judge: z.string(),
  unjudged: z.number().int(),
  overall: Tally,
  slices: z.record(z.string(), Tally),
  promote: z.boolean(),
  reasons: z.array(z.string()),
});
export type MirrorResult = z.infer<typeof MirrorResult>;

/** The recorded production traffic log (data/flow-agent/traffic.jsonl), keyed by its content. */
export const snapshotTraffic = snapshotStep('flow-snapshot-traffic', 'production traffic log', 'traffic.jsonl');

/** The feedback dataset (requests candidates lost in mirroring), keyed by its content; empty before any. */
export const snapshotFeedback = defineStep({
  id: 'flow-snapshot-feedback',
  version: 1,
  description: 'Copy the mirroring feedback dataset (requests lost to production) into the store',
  config: z.object({ location: z.string().optional() }),
  outputs: { data: file({ fileName: 'feedback.jsonl' }) },
  external: (config) => fileState(feedbackPath(config.location)),
  async run({ config, outputs }) {
    await writeFile(outputs.data, await readFile(feedbackPath(config.location)).catch(() => Buffer.from('')));
  },
});

const SCORE: Record<MirrorOutcome, number> = { win: 1, tie: 0.5, loss: 0 };

/**
 * Wins, ties and losses, and the mean score with its t interval. A tie is not half a success of a
 * binomial (a Wilson interval on wins + ties/2 covers ~100% with many ties): scoring requests 1 / ½ / 0
 * and taking the interval of their mean covers ~95% at every tie rate (test/judge/mirror-decision.test.ts).
 * One pseudo-win and one pseudo-loss keep a slice of a few identical outcomes from looking certain.
 */
export function mirrorTally(outcomes: readonly MirrorOutcome[]): z.infer<typeof Tally> {
  const count = (o: MirrorOutcome): number => outcomes.filter((x) => x === o).length;
  const [wins, ties, losses] = [count('win'), count('tie'), count('loss')];
  const n = outcomes.length;
  const { ci } = meanInterval(
    outcomes.map((o) => SCORE[o]),
    { prior: [1, 0] },
  );
  return { n, wins, ties, losses, score: n === 0 ? 0.5 : (wins + ties / 2) / n, ci, signTestP: signTest(wins, losses) };
}

/** Promote only if the mean score's lower bound clears the bar and no slice's upper bound is below ½. */
export function decideMirror(
  overall: z.infer<typeof Tally>,
  slices: Record<string, z.infer<typeof Tally>>,
  against: string,
  minScoreLowerBound: number,
): { promote: boolean; reasons: string[] } {
  const show = (t: z.infer<typeof Tally>): string =>
    `score ${t.score.toFixed(3)} [${t.ci[0].toFixed(3)}, ${t.ci[1].toFixed(3)}] (${t.wins} wins / ${t.ties} ties / ${t.losses} losses, sign test p = ${t.signTestP.toPrecision(2)})`;
  const reasons: string[] = [];
  if (!(overall.ci[0] > minScoreLowerBound))
    reasons.push(
      `${show(overall)} over ${against}: the lower bound is not above ${minScoreLowerBound}${minScoreLowerBound === 0.5 ? ' (not shown better than production: promotion asks for evidence of an improvement, not a tie)' : ''}`,
    );
  for (const [name, t] of Object.entries(slices)) if (t.n > 0 && t.ci[1] < 0.5) reasons.push(`slice ${name} regresses: ${show(t)}, upper bound below 0.5`);
  if (reasons.length > 0) return { promote: false, reasons };
  return { promote: true, reasons: [`${show(overall)} over ${against} clears ${minScoreLowerBound}, no slice regresses`] };
}

/**
 * Production mirroring, gathered: `mirrorRequest` (mapped over `mirrorSample`'s sample of recorded
 * production requests, one element per request) replays each through the production model (the
 * registry's `production` alias) and the candidate and judges the pair blind with positions swapped;
 * this step reports win/tie/loss with the mean score's interval overall and per slice. It approves
 * promotion only if the lower bound is above `minScoreLowerBound` and no slice's upper bound falls
 * below 0.5 (a slice where the candidate is worse). Requests the candidate lost, with production's
 * workflow, join the feedback dataset that the next run's synthesize turns into training examples.
 * Only a trusted judge decides: otherwise nothing is judged, promoted or fed back (`refused`). A sampled
 * request without an outcome (its element failed) counts as unjudged.
 */
export const mirror = defineStep({
  id: 'flow-mirror',
  version: 4,
  description: 'Gather production mirroring: win/tie/loss of the candidate against production, the promotion decision and the feedback',
  config: z.object({
    /** The mean score's lower bound must be above this (0.5: better than production, not just as good). */
    minScoreLowerBound: z.number().min(0).max(1).default(0.5),
    registry: z.string().optional(),
    /** Feedback folder; default FLYWHEEL_FEEDBACK, else .flywheel/feedback. */
    feedback: z.string().optional(),
  }),
  inputs: {
    requests: file(),
    outcomes: file(),
    trust: json(JudgeTrust),
    model: file({ optional: true }),
    served: json(ServedModelRef, { optional: true }),
  },
  outputs: { mirror: json(MirrorResult), losses: file({ fileName: 'losses.jsonl' }), report: dir() },
  external: productionState,
  async run({ config, inputs, outputs, log, decline }) {
    const registry = new ModelRegistry(registryLocation(config.registry));
    const found = await productionVersion(registry);
    const candidate = await candidateOf(inputs);
    const candidateId = candidate.id;
    const current = found?.modelDigest === candidate.digest ? undefined : found;
    const sample = jsonLines(await readFile(inputs.requests, 'utf8')).map((l) => TrafficRecord.parse(l));
    const outcomes = jsonLines(await readFile(inputs.outcomes, 'utf8')).map((l) => MirroredRequest.parse(l));
    // The judge as the elements name it (the same for all: its settings are in their keys).
    const judgeId = outcomes[0]?.judge ?? inputs.trust.judge.judge;
    const refused = untrustedReason(inputs.trust);
    if (refused !== null || current === undefined) {
      // Nothing is judged, and no lost request reaches the training data.
      const reason = refused ?? NOTHING_TO_COMPARE;
      if (refused !== null) {
        log.warn({ reason }, 'production traffic not mirrored: the judge is not trusted');
        decline(`not mirrored: ${reason}`);
      }
      await writeFile(outputs.losses, '');
      const blocks = [
        { kind: 'heading' as const, level: 1 as const, text: 'Production mirroring' },
        { kind: 'paragraph' as const, text: refused === null ? reason : `Not mirrored: ${reason}. No lost request joins the feedback dataset.` },
      ];
      await writeReport(outputs.report, 'Production mirroring', blocks);
      return {
        mirror: {
          skipped: refused === null ? reason : null,
          refused,
          production: current === undefined ? null : `v${current.version}`,
          candidate: candidateId,
          judge: judgeId,
          unjudged: 0,
          overall: mirrorTally([]),
          slices: {},
          promote: refused === null,
          reasons: [reason],
        },
      };
    }
    const productionId = `v${current.version}`;
    const judged = outcomes.filter((c): c is typeof c & { outcome: MirrorOutcome } => c.outcome !== null);
    const overall = mirrorTally(judged.map((c) => c.outcome));
    const slices = bySlice(
      judged,
      (c) => c.slices,
      (group) => mirrorTally(group.map((c) => c.outcome)),
    );
    const { promote, reasons } = decideMirror(overall, slices, productionId, config.minScoreLowerBound);

    const losses = judged
      .filter((c) => c.outcome === 'loss' && c.production !== null)
      .map((c): FeedbackExample => ({
        from: c.id,
        request: c.request,
        ...(c.base === undefined ? {} : { base: c.base }),
        workflow: c.production as FlowWorkflow,
      }));
    await writeFile(outputs.losses, losses.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await addFeedback(feedbackPath(config.feedback), losses);

    const rows = [
      ['slice', 'pairs', 'wins', 'ties', 'losses', 'score', '95% CI', 'sign test p'],
      ...[['overall', overall] as const, ...Object.entries(slices)].map(([name, t]) => [
        name,
        String(t.n),
        String(t.wins),
        String(t.ties),
        String(t.losses),
        t.score.toFixed(3),
        `[${t.ci[0].toFixed(3)}, ${t.ci[1].toFixed(3)}]`,
        t.signTestP.toPrecision(2),
      ]),
    ];
    const offlineJudge = inputs.trust.judge.offline;
    const title = `Production mirroring — ${candidateId} vs production ${productionId}`;
    const blocks = [
      { kind: 'heading' as const, level: 1 as const, text: title },
      {
        kind: 'paragraph' as const,
        text: `${sample.length} recorded requests, each judged blind twice with positions swapped by ${judgeId}${offlineJudge ? ' (offline judge)' : ''}; ${sample.length - judged.length} unjudged. A request scores 1 (win), ½ (tie) or 0 (loss); 0.5 means equally good. ${promote ? 'Promotion approved' : 'Promotion refused'}: ${reasons.join('; ')}. ${losses.length} lost request(s) feed the next run's training data.`,
      },
      { kind: 'table' as const, rows },
    ];
    await writeReport(outputs.report, title, blocks);
    log.info(
      { production: productionId, wins: overall.wins, ties: overall.ties, losses: overall.losses, promote, feedback: losses.length },
      'mirrored production traffic',
    );
    return {
      mirror: {
        skipped: null,
        refused: null,
        production: productionId,
        candidate: candidateId,
        judge: judgeId,
        unjudged: sample.length - judged.length,
        overall,
        slices,
        promote,
        reasons,
      },
    };
  },
});

const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);

/** Merges lost requests into the feedback file (one per request, sorted), rewritten only when it changes. */
async function addFeedback(path: string, losses: readonly FeedbackExample[]): Promise<void> {
  const existing = (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => FeedbackExample.parse(JSON.parse(l)));
  const merged = new Map([...existing, ...losses].map((e) => [e.request, e]));
  const text = [...merged.values()]
    .sort((a, b) => a.from.localeCompare(b.from))
    .map((e) => `${JSON.stringify(e)}\n`)
    .join('');
  if (text === (await readFile(path, 'utf8').catch(() => ''))) return;
  await mkdir(join(path, '..'), { recursive: true });
  await writeFileWhole(path, text);
}
