// Prints the measured error rates of the judge's decisions for docs/judge.md (seeded; about ten minutes,
// most of it the per-week drift test's year-long runs):
//   npx tsx scripts/judge-error-rates.ts
import { goldenFixture } from '../steps/judge/fixture-data.js';
import { offlineJudge } from '../steps/judge/offline-judge.js';
import { driftAlarmRate, gatePassRate, mirrorCoverage, sequentialAlarmRates } from '../steps/judge/operating-characteristics.js';
import { CUSUM } from '../steps/judge/sequential-drift.js';

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

console.log('Trust gate (held-out kappa ≥ 0.6 and its one-sided 95% lower bound ≥ 0.5), 500 simulated calibration sets each:');
console.log('| true kappa | passes with 120 held-out items | passes with 40 |');
console.log('| --- | --- | --- |');
for (const kappa of [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8])
  console.log(`| ${kappa} | ${pct(gatePassRate(kappa, 120, 500, 11))} | ${pct(gatePassRate(kappa, 40, 500, 12))} |`);

const golden = goldenFixture().map((g) => g.humans[0]);
const legacy = golden.slice(0, 48);
console.log(`\nGolden-set drift test (alpha 0.02; Stuart–Maxwell at 0.01 or paired kappa change at 99%), 500 simulations each:`);
console.log('| golden items | noise per answer | false alarms (same judge) | alarms on the lenient shift (power) |');
console.log('| --- | --- | --- | --- |');
for (const [items, noise] of [
  [legacy, 0.05],
  [golden, 0.05],
  [golden, 0.1],
] as const) {
  const run = (lenient: boolean, seed: number): number => driftAlarmRate(items, { lenient, noise, alpha: 0.02, simulations: 500, seed });
  console.log(`| ${items.length} | ${pct(noise)} | ${pct(run(false, 21))} | ${pct(run(true, 22))} |`);
}

console.log('\nMirroring: 95% t interval of the mean score (1 / ½ / 0, one pseudo-win and one pseudo-loss), 100 requests, 2,000 simulations each:');
console.log('| tie rate | true score | coverage | promoted (lower bound > 0.5) |');
console.log('| --- | --- | --- | --- |');
for (const tieRate of [0, 0.3, 0.6, 0.8, 0.9, 0.95])
  for (const advantage of [0, 0.05]) {
    if (advantage > (1 - tieRate) / 2) continue;
    const r = mirrorCoverage({ tieRate, advantage, n: 100, simulations: 2000, seed: 31 });
    console.log(`| ${tieRate} | ${(0.5 + advantage).toFixed(2)} | ${pct(r.coverage)} | ${pct(r.promoted)} |`);
  }

console.log('\nMirroring on small slices (95% t interval with the pseudo-win and pseudo-loss; true score 0.5), 2,000 simulations each:');
console.log('| requests in the slice | tie rate | coverage | upper bound below 0.5 (a slice "regresses") |');
console.log('| --- | --- | --- | --- |');
for (const n of [10, 20])
  for (const tieRate of [0, 0.5, 0.8]) {
    const r = mirrorCoverage({ tieRate, advantage: 0, n, simulations: 2000, seed: 32, below: true });
    console.log(`| ${n} | ${tieRate} | ${pct(r.coverage)} | ${pct(r.regressed ?? 0)} |`);
  }

// The sequential test: the real golden set, the offline judge's own labels as what the judge means, and
// re-asking noise; a provider update that turns 10% of its bad verdicts into good.
const judge = goldenFixture().map((g) => offlineJudge(g.request, g.output).label);
const reference = goldenFixture().map((g) => g.humans[0]);
console.log(`\nSequential drift test (two-sided CUSUM, allowance ${CUSUM.allowance}, threshold ${CUSUM.threshold}) on the ${judge.length}-item golden set:`);
console.log(
  '| noise per answer | false alarms over 52 weekly runs (2,000 histories) | 10% bad→good caught within 8 runs, shift 2 / 5 / 10 / 20 runs after the baseline (1,000 each) | at a random week of the year | median runs to the alarm (shift at 10) |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const noise of [0.05, 0.1]) {
  const quiet = sequentialAlarmRates({ judge, noise, weeks: 52, simulations: 2000, seed: 41 });
  const shifted = (at: number, simulations = 1000, seed = 42) =>
    sequentialAlarmRates({ judge, noise, weeks: at + 7, shift: { at, badToGood: 0.1 }, simulations, seed });
  const anyWeek = Array.from({ length: 45 }, (_, i) => shifted(i + 1, 40, 43 + i).caughtWithin).reduce((a, b) => a + b, 0) / 45;
  console.log(
    `| ${pct(noise)} | ${pct(quiet.alarmed)} | ${[2, 5, 10, 20].map((at) => pct(shifted(at).caughtWithin)).join(' / ')} | ${pct(anyWeek)} | ${shifted(10).medianRuns ?? '–'} |`,
  );
}
console.log('\nThe per-week test over a year (each run against the baseline, alpha 0.02; 200 histories of 52 runs, 400 bootstrap samples):');
console.log('| noise per answer | at least one false alarm in 52 runs |');
console.log('| --- | --- |');
for (const noise of [0.05, 0.1])
  console.log(
    `| ${pct(noise)} | ${pct(sequentialAlarmRates({ judge, noise, weeks: 52, simulations: 200, seed: 51, perWeek: { alpha: 0.02, reference, samples: 400 } }).perWeekAlarmed ?? 0)} |`,
  );
