import { describe, expect, it } from 'vitest';
import { decideMirror, mirrorTally } from '../../steps/release/mirror.js';
import { mirrorCoverage } from '../../steps/judge/operating-characteristics.js';
import type { FlowWorkflow } from '../../steps/flow-agent/flow-workflow.js';
import { defaultJudgeSpec } from '../../steps/judge/judge-spec.js';
import { LlmJudge } from '../../steps/judge/llm-judge.js';
import { mirroredOutcome, type MirrorOutcome, type PairJudge, type Preference } from '../../steps/judge/pairwise-judge.js';
import { scriptedServers } from '../support/openai-server.js';

const serve = scriptedServers();

const production = { name: 'production' } as unknown as FlowWorkflow;
const candidate = { name: 'candidate' } as unknown as FlowWorkflow;
const spec = defaultJudgeSpec();
const prefers =
  (pick: (a: FlowWorkflow | null, b: FlowWorkflow | null) => Preference | null): PairJudge =>
  (_spec, _request, a, b) =>
    Promise.resolve(pick(a, b));
/** The mirrored outcome of production against candidate when the judge picks with `pick`. */
const decided = (pick: (a: FlowWorkflow | null, b: FlowWorkflow | null) => Preference | null) =>
  mirroredOutcome(prefers(pick), spec, 'r', production, candidate);

describe('production mirroring', () => {
  it('judges each pair in both orders, so a judge that favours a position decides nothing', async () => {
    const seen: string[] = [];
    const firstIsBetter: PairJudge = (_s, _r, a, b) => {
      seen.push(`${(a as { name: string }).name}|${(b as { name: string }).name}`);
      return Promise.resolve('A');
    };
    expect(await mirroredOutcome(firstIsBetter, spec, 'r', production, candidate)).toBe('tie');
    expect(seen).toEqual(['production|candidate', 'candidate|production']);
    expect(await decided((_a, b) => (b === null ? 'tie' : 'B'))).toBe('tie');
    expect(await decided((a) => (a === candidate ? 'A' : 'B'))).toBe('win');
    expect(await decided((a) => (a === production ? 'A' : 'B'))).toBe('loss');
    expect(await decided(() => 'tie')).toBe('tie');
    expect(await decided((a) => (a === production ? null : 'A'))).toBeNull();
  });

  it('scores requests 1 / ½ / 0 and decides on the interval of the mean score, with a sign test beside it', () => {
    const outcomes = (wins: number, ties: number, losses: number): MirrorOutcome[] => [
      ...Array<MirrorOutcome>(wins).fill('win'),
      ...Array<MirrorOutcome>(ties).fill('tie'),
      ...Array<MirrorOutcome>(losses).fill('loss'),
    ];
    // A real improvement with many ties: 20 wins, 76 ties, 4 losses. Wilson on wins + ties/2 refused it.
    const improved = mirrorTally(outcomes(20, 76, 4));
    expect(improved).toMatchObject({ n: 100, wins: 20, ties: 76, losses: 4, score: 0.58 });
    expect(improved.ci[0]).toBeGreaterThan(0.5);
    expect(improved.signTestP).toBeCloseTo(0.0015, 4);
    expect(decideMirror(improved, {}, 'v1', 0.5)).toMatchObject({
      promote: true,
      reasons: [expect.stringMatching(/^score 0\.580 \[0\.53\d, 0\.62\d\] \(20 wins \/ 76 ties \/ 4 losses, sign test p = 0\.0015\) over v1 clears 0\.5/)],
    });
    // Identical models never clear the bar.
    const equal = mirrorTally(outcomes(0, 100, 0));
    expect(equal.score).toBe(0.5);
    expect(decideMirror(equal, {}, 'v1', 0.5).promote).toBe(false);
    // A slice of a few straight losses is not proof of a regression; five are.
    expect(decideMirror(improved, { edit: mirrorTally(outcomes(0, 0, 3)) }, 'v1', 0.5).promote).toBe(true);
    const regressed = decideMirror(improved, { edit: mirrorTally(outcomes(0, 0, 5)) }, 'v1', 0.5);
    expect(regressed.promote).toBe(false);
    expect(regressed.reasons[0]).toMatch(/^slice edit regresses: score 0\.000/);
  });

  it('covers the true mean score about 95% of the time at every tie rate (bounded simulation)', () => {
    for (const tieRate of [0, 0.3, 0.6, 0.8]) {
      for (const advantage of [0, 0.05]) {
        const { coverage } = mirrorCoverage({ tieRate, advantage, n: 100, simulations: 1000, seed: 7 });
        expect(coverage, `tie rate ${tieRate}, advantage ${advantage}`).toBeGreaterThanOrEqual(0.93);
        expect(coverage, `tie rate ${tieRate}, advantage ${advantage}`).toBeLessThanOrEqual(0.975);
      }
    }
    // Equal models are promoted at most at the one-sided 2.5% the lower bound allows.
    expect(mirrorCoverage({ tieRate: 0.6, advantage: 0, n: 100, simulations: 1000, seed: 8 }).promoted).toBeLessThanOrEqual(0.04);
  });

  it('asks an LLM judge through the endpoint blind, in both orders, and counts an answer off the scale as no judgement', async () => {
    const server = await serve((request) => {
      const user = request.body.messages[1]?.content ?? '';
      if (user.includes('"name":"broken"')) return { content: '{"better": "neither"}' };
      return { content: JSON.stringify({ better: 'A', reason: 'the first one' }) }; // a judge with position bias
    });
    const judge = new LlmJudge({
      model: 'pair-judge',
      baseURL: server.baseURL,
      apiKey: 'sk-test',
      concurrency: 2,
      malformedRetries: 1,
      maxRetries: 0,
      timeoutMs: 10_000,
      memo: false,
    });
    const pair: PairJudge = (s, r, a, b) => judge.comparePair(s, r, a, b);
    expect(await mirroredOutcome(pair, spec, 'tag big orders', production, candidate)).toBe('tie');
    const [first, second] = server.requests.map((r) => r.body.messages[1]?.content ?? '');
    expect(first).toMatch(/Workflow A:\n\{"name":"production"\}\n\nWorkflow B:\n\{"name":"candidate"\}/);
    expect(second).toMatch(/Workflow A:\n\{"name":"candidate"\}\n\nWorkflow B:\n\{"name":"production"\}/);
    expect(server.requests[0]?.body.messages[0]?.content).toContain(spec.rubric);
    expect(await mirroredOutcome(pair, spec, 'r', production, { name: 'broken' } as unknown as FlowWorkflow)).toBeNull();
    expect(judge.stats.malformed).toBe(2); // both orders asked twice each, none on the scale
  });
});
