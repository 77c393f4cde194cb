// (i) `npm start` on a built tree: the incremental build (scripts/build.mjs) finds nothing to do, so starting
// costs npm's own start-up and the build's content check on top of the run itself. Baseline, in the same
// script and working tree: the direct command `node bin/flywheel.js run flow-agent` (the flagship fully
// cached). Also timed: the build's check alone, npm starting a script that does nothing (the floor npm puts
// under any `npm start`), and the full build every `npm start` used to run first.
import { formatMs, heading, line, median, ratioRows, REPO_ROOT, runIfMain, runProcess, timeProcess, type SummaryRow } from './lib.js';

const SAMPLES = 7;
const BENCH = '(i) npm start';

export async function benchStart(): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  const row = ratioRows(BENCH, rows);
  heading(`${BENCH}: again on a built tree, against the direct command (flow-agent fully cached)`);
  await runProcess('npm', ['start', '--silent'], { cwd: REPO_ROOT }); // builds what changed, fills the cache
  const start: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    start.push((await runProcess('npm', ['start', '--silent'], { cwd: REPO_ROOT })).wallMs);
    direct.push((await runProcess('node', ['bin/flywheel.js', 'run', 'flow-agent'], { cwd: REPO_ROOT })).wallMs);
  }
  row('npm start again / node bin/flywheel.js run flow-agent', median(start), median(direct), '≤ 1.3×');
  const check = median((await timeProcess(SAMPLES, 'node', ['scripts/build.mjs'])).ms);
  const npmFloor = median((await timeProcess(SAMPLES, 'npm', ['run', '--silent', 'noop'])).ms);
  line('of which: the build finding nothing to do (node scripts/build.mjs)', formatMs(check));
  line('of which: npm running a script that does nothing (npm run noop)', formatMs(npmFloor));
  line('the floor npm sets: (npm run noop + direct) / direct', `${((npmFloor + median(direct)) / median(direct)).toFixed(2)}×`);
  // What `npm start` ran first before the build was incremental (its outputs are the same files).
  const before =
    'node_modules/.bin/tsc -p tsconfig.build.json --incremental false && node scripts/bundle-workflows.mjs && node_modules/.bin/vite build --config ui/app/vite.config.ts --logLevel warn';
  const full = (await runProcess('sh', ['-c', before], { cwd: REPO_ROOT })).wallMs;
  line('before: the full build every npm start ran first', formatMs(full));
  return rows;
}

runIfMain(import.meta.url, benchStart);
