// Prints the measured error rates of the judge's decisions for docs/judge.md (seeded; about a minute):
//   npx tsx scripts/judge-error-rates.ts
import { goldenFixture } from '../steps/judge/fixture-data.js';
import { driftAlarmRate, gatePassRate, mirrorCoverage } from '../steps/judge/operating-characteristics.js';

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
for (const tieRate of [0, 0.3, 0.6, 0.8, 0.95])
  for (const advantage of [0, 0.05]) {
    if (advantage > (1 - tieRate) / 2) continue;
    const r = mirrorCoverage({ tieRate, advantage, n: 100, simulations: 2000, seed: 31 });
    console.log(`| ${tieRate} | ${(0.5 + advantage).toFixed(2)} | ${pct(r.coverage)} | ${pct(r.promoted)} |`);
  }
