import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toJsonl } from '../../steps/flow-agent/fixture-data.js';
import { cohenKappa } from '../../steps/stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem } from '../../steps/judge/calibration-generator.js';
import { calibrationFixture, goldenFixture } from '../../steps/judge/fixture-data.js';
import { REPO } from '../support/cli.js';

const path = join(REPO, 'data', 'judge', 'calibration.jsonl');

describe('judge calibration set', () => {
  it('is exactly what the seeded generator produces (regenerate with scripts/generate-judge-data.ts)', async () => {
    expect(await readFile(path, 'utf8')).toBe(toJsonl(calibrationFixture()));
    expect(await readFile(join(REPO, 'data', 'judge', 'golden.jsonl'), 'utf8')).toBe(toJsonl(goldenFixture()));
  });

  it('has a frozen golden set of agreed labels for requests the calibration set does not use', () => {
    const golden = goldenFixture();
    const calibrationRequests = new Set(calibrationFixture().map((i) => i.request));
    expect(golden.length).toBeGreaterThanOrEqual(40);
    expect(golden.every((g) => g.humans[0] === g.humans[1] && !calibrationRequests.has(g.request))).toBe(true);
    expect(new Set(golden.map((g) => g.humans[0]))).toEqual(new Set(JUDGE_LABELS));
  });

  it('has two annotators who agree like real ones (kappa 0.65–0.70), over every quality pattern, split into development and held-out parts', async () => {
    const items = (await readFile(path, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const kappa = cohenKappa(
      items.map((i) => i.humans[0]),
      items.map((i) => i.humans[1]),
      { labels: [...JUDGE_LABELS] },
    );
    expect(kappa.defined).toBe(true);
    expect(kappa.defined && kappa.kappa).toBeGreaterThanOrEqual(0.65);
    expect(kappa.defined && kappa.kappa).toBeLessThanOrEqual(0.7);
    expect(new Set(items.flatMap((i) => i.humans))).toEqual(new Set(JUDGE_LABELS));
    expect(new Set(items.map((i) => i.pattern)).size).toBe(6);
    const development = items.filter((i) => i.split === 'development');
    const heldOut = items.filter((i) => i.split === 'held-out');
    expect(development.length).toBe(120);
    expect(heldOut.length).toBe(120);
    expect(new Set([...development, ...heldOut].map((i) => i.id)).size).toBe(items.length);
    expect(heldOut.some((i) => i.slice === 'edit')).toBe(true);
  });
});
