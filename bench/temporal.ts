// (e) Flywheel on Temporal, against a real dev server started here:
//   1. a 200-step chain of trivial steps versus a bare workflow calling 200 trivial activities on the
//      same server (per-step overhead ratio; target ≤ 1.3);
//   2. a fully cached 1,000-step pipeline (10 chains × 100), whole `flywheel run` process (target < 3 s);
//   3. a 5,000-step DAG (50 chains × 100) from an empty cache: wall time (FLYWHEEL_BENCH_SKIP_5K=1 skips it).
// The dev server keeps its state in memory, as in the tests (a SQLite file syncs every write).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { startTemporal, startWorker } from '../test/support/temporal.js';
import { FLYWHEEL_BIN, formatMs, formatRatio, freshDir, heading, line, runIfMain, runProcess, timeAsync, type SummaryRow } from './lib.js';

const CHAIN_STEPS = 200;

/** A pipeline of `chains` chains × `length` steps, each writing a few bytes (the same work as the bare activity). */
function pipelineSource(name: string, chains: number, length: number): string {
  return `import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { definePipeline, defineStep, file } from 'flywheel';

const Position = z.object({ chain: z.number().int(), index: z.number().int() });
const seed = defineStep({
  id: 'tbench-seed', version: 1, config: Position, outputs: { out: file({ fileName: 'out.txt' }) },
  async run({ config, outputs }) { await writeFile(outputs.out, \`chain \${config.chain} step \${config.index}\\n\`); },
});
const link = defineStep({
  id: 'tbench-link', version: 1, config: Position, inputs: { prev: file() }, outputs: { out: file({ fileName: 'out.txt' }) },
  async run({ config, inputs, outputs }) {
    const previous = await readFile(inputs.prev, 'utf8');
    await writeFile(outputs.out, \`chain \${config.chain} step \${config.index} after \${previous.length} bytes\\n\`);
  },
});
export default definePipeline({
  name: '${name}',
  build(p) {
    for (let chain = 0; chain < ${chains}; chain++) {
      let prev = p.add(seed, { id: \`c\${chain}-s0\`, config: { chain, index: 0 } }).out.out;
      for (let index = 1; index < ${length}; index++) prev = p.add(link, { id: \`c\${chain}-s\${index}\`, config: { chain, index }, inputs: { prev } }).out.out;
    }
  },
});
`;
}

export async function benchTemporal(): Promise<SummaryRow[]> {
  heading('(e) Temporal executor: per-step overhead, cached 1k run, 5k DAG');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const work = await freshDir('temporal');
  const server = await startTemporal();
  const env = {
    TEMPORAL_ADDRESS: server.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: 'bench-',
    FLYWHEEL_COMPILE_CACHE: join(work, 'compile-cache'),
    FLYWHEEL_LOG_LEVEL: 'warn',
  };
  const worker = await startWorker('cpu', env);
  const connection = await Connection.connect({ address: server.address });
  const rows: SummaryRow[] = [];
  try {
    // Baseline: the bare workflow and its activities in this process, on the same server.
    const bareDir = await freshDir('temporal', 'bare');
    const bareWorker = await Worker.create({
      connection: await (await import('@temporalio/worker')).NativeConnection.connect({ address: server.address }),
      taskQueue: 'bench-bare',
      workflowsPath: new URL('./temporal-bare-workflow.ts', import.meta.url).pathname,
      activities: {
        async trivial(index: number): Promise<string> {
          const text = `step ${index}\n`;
          await writeFile(join(bareDir, `${index}.txt`), text);
          return text;
        },
      },
    });
    const client = new Client({ connection });
    const bare = await bareWorker.runUntil(async () => {
      await client.workflow.execute('bareChain', { taskQueue: 'bench-bare', workflowId: `bare-warmup-${Date.now()}`, args: [10] });
      return timeAsync(() => client.workflow.execute('bareChain', { taskQueue: 'bench-bare', workflowId: `bare-${Date.now()}`, args: [CHAIN_STEPS] }));
    });

    const chainFile = join(work, 'chain.ts');
    await writeFile(chainFile, pipelineSource('tbench-chain', 1, CHAIN_STEPS));
    const run = (file: string, cwd: string, extra: string[] = []) =>
      runProcess(process.execPath, [FLYWHEEL_BIN, 'run', file, '--engine', 'temporal', '--json', ...extra], { cwd, env: { ...process.env, ...env } });
    const warm = await freshDir('temporal', 'warmup');
    await run(join(work, 'chain.ts'), warm, ['--set', 'c0-s0.index=-1']); // compiles the pipeline and warms the worker
    const chainDir = await freshDir('temporal', 'chain');
    const chain = await timeAsync(() => run(chainFile, chainDir));
    const chainRun = JSON.parse(chain.result.stdout) as { durationMs: number; steps: Array<{ status: string }> };
    const executed = chainRun.steps.filter((s) => s.status === 'executed').length;
    const ratio = chainRun.durationMs / bare.ms;
    line(`bare workflow, ${CHAIN_STEPS} sequential trivial activities`, `${formatMs(bare.ms)} (${(bare.ms / CHAIN_STEPS).toFixed(1)} ms/step)`);
    line(
      `flywheel ${CHAIN_STEPS}-step chain, ${executed} executed (workflow time)`,
      `${formatMs(chainRun.durationMs)} (${(chainRun.durationMs / CHAIN_STEPS).toFixed(1)} ms/step), process ${formatMs(chain.ms)}`,
    );
    line('per-step overhead ratio', formatRatio(ratio));
    rows.push({
      bench: '(e) temporal',
      metric: `${CHAIN_STEPS}-step chain vs bare activities`,
      value: formatMs(chainRun.durationMs),
      baseline: formatMs(bare.ms),
      ratio,
      target: '≤ 1.3',
    });

    const dagFile = join(work, 'dag1000.ts');
    await writeFile(dagFile, pipelineSource('tbench-dag-1000', 10, 100));
    const dagDir = await freshDir('temporal', 'dag1000');
    const cold = await timeAsync(() => run(dagFile, dagDir, ['--concurrency', '16']));
    const cached = await timeAsync(() => run(dagFile, dagDir));
    const cachedRun = JSON.parse(cached.result.stdout) as { durationMs: number; steps: Array<{ status: string }> };
    line('1,000-step DAG from an empty cache (process)', formatMs(cold.ms));
    line(
      `1,000-step DAG fully cached (${cachedRun.steps.filter((s) => s.status === 'cached').length} cached)`,
      `process ${formatMs(cached.ms)}, workflow ${formatMs(cachedRun.durationMs)}`,
    );
    rows.push({ bench: '(e) temporal', metric: '1k-step run, fully cached (process)', value: formatMs(cached.ms), target: '< 3 s' });

    if (process.env.FLYWHEEL_BENCH_SKIP_5K === '1') return rows; // minutes on a 2-core machine
    const bigFile = join(work, 'dag5000.ts');
    await writeFile(bigFile, pipelineSource('tbench-dag-5000', 50, 100));
    const bigDir = await freshDir('temporal', 'dag5000');
    const big = await timeAsync(() => run(bigFile, bigDir, ['--concurrency', '16']));
    const bigRun = JSON.parse(big.result.stdout) as { status: string; steps: Array<{ status: string }> };
    const handles: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'pipelineWorkflow' AND FlywheelPipeline = 'tbench-dag-5000'` })) handles.push(w.runId);
    line(
      `5,000-step DAG from an empty cache: ${bigRun.status}, ${bigRun.steps.filter((s) => s.status === 'executed').length} executed`,
      `${formatMs(big.ms)} (${handles.length} workflow executions via continue-as-new)`,
    );
    rows.push({ bench: '(e) temporal', metric: '5k-step DAG, empty cache (wall)', value: formatMs(big.ms) });
  } finally {
    await connection.close();
    await worker.stop();
    await server.stop();
  }
  return rows;
}

runIfMain(import.meta.url, benchTemporal);
