// Prints the measured error rates of the deploy gate's slice rule for docs/judge.md (seeded; about two
// minutes): it runs the flagship's local profile twice (default and synthesis temperature 0.9: two models
// of equal quality), then simulates candidates from that real pair of evaluations.
//   npm run build && npx tsx scripts/gate-error-rates.ts
import { sliceGateRates, type GateScenario } from '../steps/flow-agent/slice-gate-characteristics.js';
import { flagshipScorePair } from '../test/support/flagship-scores.js';

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
const pair = await flagshipScorePair();
const changed = pair.before.filter((b, i) => b.scores.actionF1 !== pair.after[i]?.scores.actionF1).length;
const sizes = new Map<string, number>();
for (const item of pair.before) for (const s of item.slices) sizes.set(s, (sizes.get(s) ?? 0) + 1);
console.log(`Real pair: ${pair.before.length} benchmark examples, ${changed} with a different actionF1 between the two runs.`);
console.log(`Slices: ${[...sizes].map(([s, n]) => `${s} ${n}`).join(', ')}\n`);

const rule = (tolerance: number): GateScenario['rule'] => ({ metric: 'actionF1', tolerance, alpha: 0.05, minSliceSize: 10 });
const rates = (scenario: Omit<GateScenario, 'pair'>): string => {
  const r = sliceGateRates({ pair, ...scenario });
  return scenario.drop === undefined ? pct(r.blocked) : `${pct(r.blockedOnDrop)} (any slice ${pct(r.blocked)})`;
};

console.log('Slice gate (actionF1, one-sided at α 0.05, Holm across the slices with ≥ 10 items), 1,000 simulations for an equal candidate, 500 for each drop:');
console.log(
  '| tolerance (default 0.02) | equal candidate: blocked (false block) | slice | drop | breaks examples: blocked on it | shrinks every example: blocked on it |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const tolerance of [0.02, 0.05, 0]) {
  const equal = rates({ rule: rule(tolerance), simulations: 1000, seed: 1 });
  let first = true;
  for (const [slice, by] of [
    ['trigger:marketing', 0.1],
    ['trigger:marketing', 0.2],
    ['third-party', 0.1],
    ['kind:create', 0.1],
  ] as const) {
    const drop = (how: 'breaks' | 'shrinks'): string => rates({ rule: rule(tolerance), drop: { slice, by, how }, simulations: 500, seed: 2 });
    console.log(
      `| ${first ? tolerance : ''} | ${first ? equal : ''} | ${slice} (${sizes.get(slice)}) | ${by * 100} pt | ${drop('breaks')} | ${drop('shrinks')} |`,
    );
    first = false;
  }
}

console.log('\nAt the default tolerance’s edge (a candidate truly 2 pt worse on one slice, tolerance 0.02): blocked on it, 500 simulations each:');
console.log('| slice | breaks examples | shrinks every example |');
console.log('| --- | --- | --- |');
for (const slice of ['trigger:marketing', 'third-party', 'kind:create'])
  console.log(
    `| ${slice} (${sizes.get(slice)}) | ${(['breaks', 'shrinks'] as const).map((how) => pct(sliceGateRates({ pair, rule: rule(0.02), drop: { slice, by: 0.02, how }, simulations: 500, seed: 3 }).blockedOnDrop)).join(' | ')} |`,
  );
