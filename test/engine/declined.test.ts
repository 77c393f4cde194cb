import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, json } from '../../index.js';
import { DECLINED_REASON_MAX, declinedReason } from '../../engine/execute/execute-step.js';
import { inProcessRunner } from '../support/in-process.js';

describe('what a record keeps of ctx.decline(reason)', () => {
  it('keeps the first line that says something, trimmed', () => {
    expect(declinedReason('slice x regresses: 0.61 < 0.70\nmore detail\nand more')).toBe('slice x regresses: 0.61 < 0.70');
    expect(declinedReason('  kept out  \r\nbecause')).toBe('kept out');
    expect(declinedReason('\n\n   \n  refused: no licence\n')).toBe('refused: no licence');
  });

  it(`cuts a long line to ${DECLINED_REASON_MAX} characters, and still declines on a reason of blanks`, () => {
    const long = declinedReason(`${'x'.repeat(500)}\nsecond`);
    expect(long).toHaveLength(DECLINED_REASON_MAX);
    expect(long.endsWith('x…')).toBe(true);
    expect(declinedReason('y'.repeat(DECLINED_REASON_MAX))).toBe('y'.repeat(DECLINED_REASON_MAX));
    expect(declinedReason('')).toBe('no reason given');
    expect(declinedReason(' \n \t')).toBe('no reason given');
  });
});

const Score = z.object({ score: z.number() });
const score = defineStep({ id: 'score', version: 1, outputs: { out: json(Score) }, run: () => ({ out: { score: 0.5 } }) });

const gate = (options: { cache?: boolean } = {}) =>
  defineStep({
    id: 'gate',
    version: 1,
    ...options,
    inputs: { in: json(Score) },
    outputs: { promoted: json(z.boolean()) },
    run({ inputs, decline }) {
      decline(`score ${inputs.in.score} is under the bar`);
      return { promoted: false };
    },
  });

describe('a declined step in a run', () => {
  it('a node sharing its execution in the same run is cached and declined too', async () => {
    const { run } = await inProcessRunner();
    const shared = gate();
    const record = await run(
      definePipeline({
        name: 'twins',
        build(p) {
          const s = p.add(score);
          p.add(shared, { id: 'gate-a', inputs: { in: s.out.out } });
          p.add(shared, { id: 'gate-b', inputs: { in: s.out.out } });
        },
      }),
    );
    const twins = record.steps.filter((s) => s.id.startsWith('gate-'));
    expect(twins.map((s) => s.status).sort()).toEqual(['cached', 'executed']);
    for (const twin of twins) expect(twin.declined).toBe('score 0.5 is under the bar');
    expect(record.steps.find((s) => s.id === 'score')?.declined).toBeUndefined();
  });

  it('an uncached step declines on every run, though no entry keeps it', async () => {
    const { run, store } = await inProcessRunner();
    const pipeline = definePipeline({
      name: 'uncached-gate',
      build(p) {
        p.add(gate({ cache: false }), { inputs: { in: p.add(score).out.out } });
      },
    });
    for (let i = 0; i < 2; i++) {
      const step = (await run(pipeline)).steps.find((s) => s.id === 'gate');
      expect(step).toMatchObject({ status: 'executed', declined: 'score 0.5 is under the bar' });
      expect(await store.getAction(step?.cacheKey as never)).toBeUndefined();
    }
  });

  it('is a decision of the attempt that succeeded: a failed attempt that declined leaves nothing', async () => {
    const { run } = await inProcessRunner();
    /** Fails its first attempt; declines in the attempts `declinesIn` says. */
    const flakyGate = (version: number, declinesIn: (attempt: number) => boolean) =>
      definePipeline({
        name: 'flaky-gate',
        build: (p) =>
          void p.add(
            defineStep({
              id: 'flaky-gate',
              version,
              resources: { retries: 1, retryDelay: 'PT0.01S' },
              outputs: { out: json(z.number()) },
              run({ attempt, decline }) {
                if (declinesIn(attempt)) decline(`attempt ${attempt} refuses`);
                if (attempt === 1) throw new Error('lost the connection');
                return { out: 1 };
              },
            }),
            { id: 'gate' },
          ),
      });
    expect((await run(flakyGate(1, () => true))).steps[0]).toMatchObject({ status: 'executed', attempts: 2, declined: 'attempt 2 refuses' });
    const second = (await run(flakyGate(2, (attempt) => attempt === 1))).steps[0];
    expect(second).toMatchObject({ status: 'executed', attempts: 2 });
    expect(second?.declined).toBeUndefined();
  });
});
