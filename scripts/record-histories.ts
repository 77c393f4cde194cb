// Records the workflow histories that test/temporal/replay.test.ts replays: one pipeline run across the
// cpu and gpu-h200 queues (gpu-diamond) and one shared step execution. Two runs start together, so one
// of them finds its gpu step held by the other and waits through the key's step-execution workflow: the
// recorded run takes both paths (direct executions and a shared one). And one run of the parity fixture,
// whose failed attempts the run core retries after durable timers (parity.json). Re-record only on
// purpose: a history that no longer replays means the workflow code changed in a way that breaks running
// workflows; keep the old file beside the new one. And a run of the upgrade fixture whose cpu map goes out
// in growing chunks (map-chunks.json), and a chain whose look-up rounds its steps' workers answered ahead
// (look-ahead.json).
//   npx tsx scripts/record-histories.ts [gpu-diamond|parity|map-chunks|look-ahead]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { FIXTURES, REPO, runJson } from '../test/support/cli.js';
import { startTemporal, startWorker } from '../test/support/temporal.js';

const server = await startTemporal();
const dir = await mkdtemp(join(tmpdir(), 'flywheel-record-'));
const env = { TEMPORAL_ADDRESS: server.address, FLYWHEEL_TASK_QUEUE_PREFIX: 'record-', FLYWHEEL_COMPILE_CACHE: join(dir, 'compile-cache') };
const workers = await Promise.all([startWorker('cpu', env), startWorker('gpu-h200', env)]);
const only = process.argv[2];
try {
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  // Temporal's own JSON form of a history (as `temporal workflow show --output json` writes it).
  const asJson = (history: Parameters<typeof historyToJSON>[0]): unknown => JSON.parse(historyToJSON(history));
  if (only === undefined || only === 'parity') {
    const { run } = await runJson(join(FIXTURES, 'parity.ts'), ['--engine', 'temporal'], { cwd: dir, env });
    const workflowId = `flywheel-run-${run.runId}`;
    const history = asJson(await client.workflow.getHandle(workflowId).fetchHistory());
    if (!JSON.stringify(history).includes('"timerStartedEventAttributes"')) throw new Error('the parity run made no retry: nothing to record');
    await writeFile(join(REPO, 'test', 'fixtures', 'histories', 'parity.json'), `${JSON.stringify([{ workflowId, history }])}\n`);
    console.log('recorded the parity run');
  }
  if (only === undefined || only === 'gpu-diamond') {
    const args = ['--engine', 'temporal', '--set', 'train.tickMs=500'];
    const runs = await Promise.all([0, 1].map(() => runJson(join(FIXTURES, 'gpu-diamond.ts'), args, { cwd: dir, env })));
    const withWait = [];
    for (const { run } of runs) {
      const workflowId = `flywheel-run-${run.runId}`;
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      if (history.events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep'))
        withWait.push({ workflowId, history: asJson(history) });
    }
    if (withWait.length === 0) throw new Error('neither run waited for the other: run the script again');
    const histories: Array<{ workflowId: string; history: unknown }> = [withWait[0] as { workflowId: string; history: unknown }];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'stepExecutionWorkflow'` })) {
      histories.push({ workflowId: w.workflowId, history: asJson(await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()) });
      break;
    }
    await writeFile(join(REPO, 'test', 'fixtures', 'histories', 'gpu-diamond.json'), `${JSON.stringify(histories)}\n`);
    console.log(`recorded ${histories.length} histories`);
  }
  if (only === undefined || only === 'map-chunks') {
    // A cpu map in chunks that grow as they finish fast (the adaptive-element-chunks patch), beside a GPU step.
    const args = ['--engine', 'temporal', '--set', 'numbers.count=600', '--set', 'square.sleepMs=2', '--set', 'train.ticks=4'];
    const { run } = await runJson(join(FIXTURES, 'upgrade.ts'), args, { cwd: dir, env });
    const workflowId = `flywheel-run-${run.runId}`;
    const history = asJson(await client.workflow.getHandle(workflowId).fetchHistory());
    const recorded = JSON.stringify(history);
    if (!recorded.includes('"markerName":"core_patch"')) throw new Error('the map-chunks run wrote no patch marker (adaptive-element-chunks)');
    await writeFile(join(REPO, 'test', 'fixtures', 'histories', 'map-chunks.json'), `${JSON.stringify([{ workflowId, history }])}\n`);
    console.log('recorded the map-chunks run');
  }
  if (only === undefined || only === 'look-ahead') {
    // A chain of cpu misses whose rounds are answered by each step's own look-ahead (look-ahead-with-outcome).
    const { run } = await runJson(join(FIXTURES, 'long-chain.ts'), ['--engine', 'temporal'], { cwd: dir, env });
    const workflowId = `flywheel-run-${run.runId}`;
    const history = asJson(await client.workflow.getHandle(workflowId).fetchHistory());
    const lookUps = JSON.stringify(history).split('"name":"resolveSteps"').length - 1;
    if (lookUps !== 1) throw new Error(`the look-ahead run asked ${lookUps} look-up activities, not 1: its rounds were not answered ahead`);
    await writeFile(join(REPO, 'test', 'fixtures', 'histories', 'look-ahead.json'), `${JSON.stringify([{ workflowId, history }])}\n`);
    console.log('recorded the look-ahead run');
  }
  await connection.close();
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
