import { describe, expect, it } from 'vitest';
import { mirrorTally } from '../../steps/flow-agent/mirror.js';
import type { FlowWorkflow } from '../../steps/flow-agent/flow-workflow.js';
import { defaultJudgeSpec } from '../../steps/judge/judge-spec.js';
import { LlmJudge } from '../../steps/judge/llm-judge.js';
import { mirroredOutcome, type PairJudge, type Preference } from '../../steps/judge/pairwise-judge.js';
import { scriptedServers } from '../support/openai-server.js';

const serve = scriptedServers();

const production = { name: 'production' } as unknown as FlowWorkflow;
const candidate = { name: 'candidate' } as unknown as FlowWorkflow;
const spec = defaultJudgeSpec();
const prefers =
  (pick: (a: FlowWorkflow | null, b: FlowWorkflow | null) => Preference | null): PairJudge =>
  (_spec, _request, a, b) =>
    Promise.resolve(pick(a, b));

describe('production mirroring', () => {
  it('judges each pair in both orders, so a judge that favours a position decides nothing', async () => {
    const seen: string[] = [];
    const firstIsBetter: PairJudge = (_s, _r, a, b) => {
      seen.push(`${(a as { name: string }).name}|${(b as { name: string }).name}`);
      return Promise.resolve('A');
    };
    expect(await mirroredOutcome(firstIsBetter, spec, 'r', production, candidate)).toBe('tie');
    expect(seen).toEqual(['production|candidate', 'candidate|production']);
    expect(
      await mirroredOutcome(
        prefers((_a, b) => (b === null ? 'tie' : 'B')),
        spec,
        'r',
        production,
        candidate,
      ),
    ).toBe('tie');
    expect(
      await mirroredOutcome(
        prefers((a) => (a === candidate ? 'A' : 'B')),
        spec,
        'r',
        production,
        candidate,
      ),
    ).toBe('win');
    expect(
      await mirroredOutcome(
        prefers((a) => (a === production ? 'A' : 'B')),
        spec,
        'r',
        production,
        candidate,
      ),
    ).toBe('loss');
    expect(
      await mirroredOutcome(
        prefers(() => 'tie'),
        spec,
        'r',
        production,
        candidate,
      ),
    ).toBe('tie');
    expect(
      await mirroredOutcome(
        prefers((a) => (a === production ? null : 'A')),
        spec,
        'r',
        production,
        candidate,
      ),
    ).toBeNull();
  });

  it('reports the win rate with its Wilson interval, ties counting half', () => {
    const outcomes = [...Array<'win'>(60).fill('win'), ...Array<'loss'>(40).fill('loss')];
    const t = mirrorTally(outcomes);
    expect(t).toMatchObject({ n: 100, wins: 60, ties: 0, losses: 40, winRate: 0.6 });
    expect(t.ci[0]).toBeCloseTo(0.502, 3); // CONTEXT.md: 60 of 100 → [0.502, 0.691]
    expect(t.ci[1]).toBeCloseTo(0.691, 3);
    const equal = mirrorTally(Array<'tie'>(100).fill('tie'));
    expect(equal.winRate).toBe(0.5);
    expect(equal.ci[0]).toBeLessThan(0.5); // identical models never clear a 0.5 bar
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
