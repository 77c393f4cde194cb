import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapKappaInterval, cohenKappa, fleissKappa, wilsonInterval } from '../../steps/stats/agreement.js';
import { SeededRandom } from '../../steps/stats/seeded-random.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// Reference vectors from ../shared/CONTEXT.md.
const y1 = ['1', '2', '3', '4', '5', '3', '2'];
const y2 = ['1', '3', '3', '5', '4', '2', '2'];

const kappaOf = (result: ReturnType<typeof cohenKappa>): number => {
  if (!result.defined) throw new Error(result.reason);
  return result.kappa;
};

describe("Cohen's kappa", () => {
  it('matches the reference values: unweighted, linear, quadratic, and the asymptotic interval', () => {
    expect(kappaOf(cohenKappa(y1, y2))).toBeCloseTo(0.26316, 5);
    expect(kappaOf(cohenKappa(y1, y2, { weights: 'linear' }))).toBeCloseTo(0.58824, 5);
    expect(kappaOf(cohenKappa(y1, y2, { weights: 'quadratic' }))).toBeCloseTo(0.81579, 5);
    const unweighted = cohenKappa(y1, y2);
    expect(unweighted.defined && unweighted.ci[0]).toBeCloseTo(-0.2034, 4);
    expect(unweighted.defined && unweighted.ci[1]).toBeCloseTo(0.7297, 4);
  });

  it('uses the explicit label order, never the alphabet, for weighted kappa', () => {
    const a = ['bad', 'good', 'needs_improvement', 'good', 'bad', 'needs_improvement'];
    const b = ['needs_improvement', 'good', 'good', 'needs_improvement', 'bad', 'needs_improvement'];
    const ordered = kappaOf(cohenKappa(a, b, { weights: 'linear', labels: ['bad', 'needs_improvement', 'good'] }));
    const alphabetical = kappaOf(cohenKappa(a, b, { weights: 'linear', labels: ['bad', 'good', 'needs_improvement'] }));
    expect(ordered).not.toBeCloseTo(alphabetical, 3);
    expect(() => cohenKappa(a, b, { weights: 'linear' })).toThrow(/needs the order of the labels/);
    // Permuting the label order does not change unweighted kappa.
    expect(kappaOf(cohenKappa(a, b, { labels: ['good', 'bad', 'needs_improvement'] }))).toBeCloseTo(kappaOf(cohenKappa(a, b)), 12);
  });

  it('returns undefined with a reason, never NaN, when both raters use one identical label; 0 when one rater is constant', () => {
    const same = cohenKappa(['good', 'good', 'good'], ['good', 'good', 'good']);
    expect(same.defined).toBe(false);
    expect(!same.defined && same.reason).toContain('one single identical label');
    expect(kappaOf(cohenKappa(['good', 'good', 'good', 'good'], ['good', 'bad', 'good', 'bad']))).toBe(0);
    expect(cohenKappa([], []).defined).toBe(false);
    expect(() => cohenKappa(['a'], ['a', 'b'])).toThrow(/1 and 2 items/);
  });

  it('clips the asymptotic interval to [−1, 1] and keeps the standard error as computed', () => {
    // 10 items, one disagreement: kappa 0.8, standard error 0.186, so kappa ± 1.96·SE reaches 1.16.
    const high = cohenKappa(
      [...Array<string>(5).fill('good'), ...Array<string>(4).fill('bad'), 'good'],
      [...Array<string>(5).fill('good'), ...Array<string>(5).fill('bad')],
    );
    if (!high.defined) throw new Error(high.reason);
    expect(high.kappa).toBeCloseTo(0.8, 12);
    expect(high.kappa + 1.96 * high.standardError).toBeGreaterThan(1.1);
    expect(high.ci[1]).toBe(1);
    expect(high.ci[0]).toBeCloseTo(high.kappa - 1.959963984540054 * high.standardError, 12);
    // Raters who almost always disagree: the lower end would fall below −1.
    const low = cohenKappa(['a', 'b', 'a', 'b', 'a'], ['b', 'a', 'b', 'a', 'b']);
    if (!low.defined) throw new Error(low.reason);
    expect(low.kappa - 1.96 * low.standardError).toBeLessThan(-1.5);
    expect(low.ci[0]).toBe(-1);
    expect(low.ci[1]).toBeLessThan(0);
  });

  it('gives perfect agreement kappa 1 and a confusion matrix in label order', () => {
    const result = cohenKappa(['b', 'a', 'b'], ['b', 'a', 'b'], { labels: ['a', 'b'] });
    expect(kappaOf(result)).toBe(1);
    expect(result.confusion).toEqual([
      [1, 0],
      [0, 2],
    ]);
  });

  it('bootstrap intervals cover the true kappa about as often as they claim (seeded simulation)', () => {
    // Two raters who agree with a known structure; the population kappa is estimated on a huge sample.
    const rng = new SeededRandom(3);
    const draw = (n: number): [string[], string[]] => {
      const a: string[] = [];
      const b: string[] = [];
      for (let i = 0; i < n; i++) {
        const truth = rng.pick(['bad', 'ok', 'good']);
        a.push(rng.chance(0.8) ? truth : rng.pick(['bad', 'ok', 'good']));
        b.push(rng.chance(0.7) ? truth : rng.pick(['bad', 'ok', 'good']));
      }
      return [a, b];
    };
    const population = kappaOf(cohenKappa(...draw(200_000)));
    let covered = 0;
    const trials = 60;
    for (let t = 0; t < trials; t++) {
      const [a, b] = draw(80);
      const ci = bootstrapKappaInterval(a, b, { samples: 300, seed: t });
      if (ci !== undefined && ci[0] <= population && population <= ci[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.85);
  });
});

describe('other agreement statistics', () => {
  it('Wilson interval: 60 wins of 100 → [0.502, 0.691]', () => {
    const [low, high] = wilsonInterval(60, 100);
    expect(low).toBeCloseTo(0.502, 3);
    expect(high).toBeCloseTo(0.691, 3);
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
  });

  it("Fleiss' kappa reduces to agreement structure for three raters and is undefined for one single label", () => {
    const perfect = fleissKappa([
      ['a', 'a', 'a'],
      ['b', 'b', 'b'],
      ['a', 'a', 'a'],
    ]);
    expect(perfect).toEqual({ defined: true, kappa: 1 });
    const mixed = fleissKappa([
      ['a', 'a', 'b'],
      ['b', 'b', 'b'],
      ['a', 'b', 'a'],
      ['a', 'a', 'a'],
    ]);
    expect(mixed.defined && mixed.kappa).toBeGreaterThan(0);
    expect(
      fleissKappa([
        ['a', 'a'],
        ['a', 'a'],
      ]).defined,
    ).toBe(false);
  });
});

describe('flywheel kappa', () => {
  it('prints the JSON summary, with null and a reason when kappa is undefined, and rejects bad input with exit 2', async () => {
    const cwd = await tempDir('kappa');
    await writeFile(join(cwd, 'a.txt'), `${y1.join('\n')}\n`);
    await writeFile(join(cwd, 'b.txt'), `${y2.join('\n')}\n`);
    const json = await runCli(['kappa', 'a.txt', 'b.txt', '--weights', 'quadratic', '--json'], { cwd });
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { kappa: number; ci: [number, number]; n: number; undefinedReason: null };
    expect(result.kappa).toBeCloseTo(0.81579, 5);
    expect(result).toMatchObject({ n: 7, undefinedReason: null });
    const human = await runCli(['kappa', 'a.txt', 'b.txt'], { cwd });
    expect(human.stdout).toContain('kappa (unweighted) = 0.2632');

    await writeFile(join(cwd, 'same.txt'), 'good\ngood\n');
    const undefinedKappa = JSON.parse((await runCli(['kappa', 'same.txt', 'same.txt', '--json'], { cwd })).stdout) as {
      kappa: null;
      ci: null;
      undefinedReason: string;
    };
    expect(undefinedKappa).toMatchObject({ kappa: null, ci: null });
    expect(undefinedKappa.undefinedReason).toContain('one single identical label');

    await writeFile(join(cwd, 'ord.txt'), 'bad\ngood\n');
    const unordered = await runCli(['kappa', 'ord.txt', 'same.txt', '--weights', 'linear'], { cwd });
    expect(unordered.code).toBe(2);
    expect(unordered.stderr).toContain('--labels');
    expect((await runCli(['kappa', 'a.txt', 'same.txt'], { cwd })).code).toBe(2);
  });
});
