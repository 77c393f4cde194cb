// `npm run bench`: every benchmark in sequence, then one summary table. Figures and ratios only; a
// missed target is reported, never asserted (see DESIGN.md, Tests).
import { availableParallelism, cpus, totalmem } from 'node:os';
import { benchCachedRun } from './cached-run.js';
import { benchDvc } from './dvc.js';
import { benchHash } from './hash.js';
import { benchLayers } from './layers.js';
import { formatMs, heading, printSummary, timeAsync, type SummaryRow } from './lib.js';
import { benchMap } from './map.js';
import { benchPlan } from './plan.js';
import { benchS3 } from './s3.js';
import { benchTemporal } from './temporal.js';
import { benchTracing } from './tracing.js';
import { benchCost } from './cost.js';
import { benchUi } from './ui.js';
import { benchStart } from './start.js';
import { benchGrowth } from './growth.js';

async function main(): Promise<void> {
  heading('Flywheel benchmarks');
  console.log(
    `  node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM`,
  );
  const rows: SummaryRow[] = [];
  const total = await timeAsync(async () => {
    for (const bench of [
      benchCachedRun,
      benchHash,
      benchPlan,
      benchMap,
      benchS3,
      benchLayers,
      benchTemporal,
      benchUi,
      benchTracing,
      benchCost,
      benchStart,
      benchDvc,
      benchGrowth,
    ])
      rows.push(...(await bench()));
  });
  printSummary(rows);
  console.log(`\nratio: flywheel / baseline (for (c), time / the 1 s target) · total bench time ${formatMs(total.ms)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
