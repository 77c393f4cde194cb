import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cohenKappa } from '../../steps/stats/agreement.js';
import { JUDGE_LABELS, type CalibrationItem } from '../../steps/judge/calibration-generator.js';
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import { REPO } from '../support/cli.js';

describe('offline rule-based judge', () => {
  it('agrees with each annotator well above chance but below their ceiling on the held-out part, and is right on the clear cases', async () => {
    const items = (await readFile(join(REPO, 'data', 'judge', 'calibration.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const heldOut = items.filter((i) => i.split === 'held-out');
    const judged = heldOut.map((i) => offlineJudge(i.request, i.output).label);
    const ceiling = cohenKappa(
      heldOut.map((i) => i.humans[0]),
      heldOut.map((i) => i.humans[1]),
      { labels: [...JUDGE_LABELS] },
    );
    for (const human of [0, 1] as const) {
      const agreement = cohenKappa(
        judged,
        heldOut.map((i) => i.humans[human]),
        { labels: [...JUDGE_LABELS] },
      );
      expect(agreement.defined && agreement.kappa).toBeGreaterThan(0.4);
      expect(agreement.defined && ceiling.defined && agreement.kappa).toBeLessThan(ceiling.defined ? ceiling.kappa + 0.05 : 1);
    }
    for (const item of heldOut.filter((i) => i.pattern === 'ideal')) expect(offlineJudge(item.request, item.output).label).toBe('good');
    for (const item of heldOut.filter((i) => i.pattern === 'broken-link'))
      expect(offlineJudge(item.request, item.output)).toMatchObject({ label: 'bad', reasons: [expect.stringContaining('invalid workflow')] });
  });
});
