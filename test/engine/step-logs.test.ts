import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LocalStore } from '../../cache/local-store.js';
import type { Digest } from '../../cache/digest.js';
import { definePipeline, defineStep, FlywheelError, json, runPipelineForTest } from '../../index.js';
import { StepLogCapture } from '../../engine/execute/step-logs.js';
import { FIXTURES, runJson } from '../support/cli.js';
import { startTemporalSuite, TEMPORAL_BIN, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /;

/** Logs a few lines, with fields, a child's bindings, interpolation, a nested object and a secret. */
const talk = defineStep({
  id: 'talk',
  version: 1,
  outputs: { said: json(z.string()) },
  run({ log }) {
    log.info({ rows: 3, source: 'a b', apiKey: 'sk-secret' }, 'loaded rows');
    log.child({ phase: 'clean' }).warn('dropped %d rows', 2);
    log.debug({ nested: { x: [1, 2] } }, 'details');
    return { said: 'ok' };
  },
});

const fail = defineStep({
  id: 'fail',
  version: 1,
  inputs: { said: json(z.string()) },
  outputs: { never: json(z.number()) },
  run({ log }) {
    log.info('about to read the broken thing');
    throw new FlywheelError('BROKEN_THING', 'the thing is broken\nsecond line of the message', { fix: 'mend the thing', retryable: false });
  },
});

async function blobText(storeDir: string, digest: Digest | undefined): Promise<string> {
  expect(digest).toBeDefined();
  return (await new LocalStore(storeDir).readBytes(digest as Digest)).toString('utf8');
}

describe('step logs', () => {
  it('stores each executed and failed step’s log as a blob on its record, and appends it live on a local store', async () => {
    const storeDir = await tempDir('flywheel-step-logs');
    const pipeline = definePipeline({
      name: 'step-logs',
      build(p) {
        const t = p.add(talk, {});
        p.add(fail, { inputs: { said: t.out.said } });
      },
    });
    const run = await runPipelineForTest(pipeline, { storeDir });
    expect(run.statuses).toEqual({ talk: 'executed', fail: 'failed' });

    const talkLog = await blobText(storeDir, run.step('talk').logs);
    const lines = talkLog.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines[0]).toMatch(/ INFO {2}loaded rows rows=3 source="a b" apiKey=\[redacted\]$/);
    expect(lines[1]).toMatch(/ WARN {2}dropped 2 rows phase=clean$/);
    expect(lines[2]).toMatch(/ DEBUG details nested=\{"x":\[1,2\]\}$/);
    expect(lines.at(-1)).toMatch(/ INFO {2}step executed durationMs=\d+ attempts=1$/);
    expect(talkLog).not.toContain('sk-secret');

    const failLog = await blobText(storeDir, run.step('fail').logs);
    expect(failLog).toContain('INFO  about to read the broken thing');
    expect(failLog).toMatch(/ERROR step failed code=BROKEN_THING attempts=1 fix="mend the thing" err="the thing is broken\\nsecond line of the message"\n$/);
    expect(failLog.trimEnd().split('\n')).toHaveLength(2);

    // The live files hold the same lines, under logs/<runId>/<stepId>.log, and stay after the run.
    const store = new LocalStore(storeDir);
    const livePath = store.liveLogPath(run.record.runId, 'talk');
    expect(livePath).toBe(join(storeDir, 'logs', run.record.runId, 'talk.log'));
    expect(await readFile(livePath, 'utf8')).toBe(talkLog);
    expect(await readFile(store.liveLogPath(run.record.runId, 'fail'), 'utf8')).toBe(failLog);

    // A cached step did not execute: its record has no log of its own (computedBy names the run whose record has it).
    const again = await runPipelineForTest(pipeline, { storeDir });
    expect(again.statuses).toEqual({ talk: 'cached', fail: 'failed' });
    expect(again.step('talk').logs).toBeUndefined();
    expect(again.step('talk').computedBy).toBe(run.record.runId);
    await rm(storeDir, { recursive: true, force: true });
  });

  it('cache gc keeps the logs of the runs it keeps, and removes the live logs of those it drops', async () => {
    const storeDir = await tempDir('flywheel-step-logs-gc');
    const pipeline = definePipeline({
      name: 'step-logs-gc',
      build(p) {
        p.add(talk, {});
      },
    });
    const first = await runPipelineForTest(pipeline, { storeDir, force: ['talk'] });
    const second = await runPipelineForTest(pipeline, { storeDir, force: ['talk'] });
    const store = new LocalStore(storeDir);
    const { collectGarbage } = await import('../../cache/maintenance.js');
    const { listRuns } = await import('../../engine/records/run-history.js');
    await collectGarbage(store, await listRuns(store), { keepRuns: 1, graceMs: 0, dryRun: false });
    expect(await blobText(storeDir, second.step('talk').logs)).toContain('loaded rows');
    expect(existsSync(store.liveLogPath(second.record.runId, 'talk'))).toBe(true);
    expect(existsSync(store.liveLogPath(first.record.runId, 'talk'))).toBe(false);
  });

  it('writes the live file while the step runs', async () => {
    const storeDir = await tempDir('flywheel-step-logs-live');
    const store = new LocalStore(storeDir);
    // The step looks for its own live file after logging a line: the store names it by the step's run id.
    const probe = defineStep({
      id: 'probe',
      version: 1,
      outputs: { seen: json(z.string()) },
      run({ log, runId }) {
        log.info('first line');
        const path = store.liveLogPath(runId, 'probe');
        return { seen: existsSync(path) ? 'present' : 'absent' };
      },
    });
    const run = await runPipelineForTest(definePipeline({ name: 'live', build: (p) => void p.add(probe, {}) }), { storeDir });
    expect(await run.output('probe.seen')).toBe('present');
    await rm(storeDir, { recursive: true, force: true });
  });

  it('keeps the head and the tail of a log over its cap and says what it left out', async () => {
    const storeDir = await tempDir('flywheel-step-logs-cap');
    const capture = new StepLogCapture({ store: new LocalStore(storeDir), runId: 'r1', stepId: 's', capBytes: 4000 });
    for (let i = 0; i < 500; i++) capture.write('info', { i }, `line ${i}`);
    const text = await blobText(storeDir, await capture.finish());
    expect(Buffer.byteLength(text)).toBeLessThan(4300);
    expect(text).toContain(' line 0 i=0\n');
    expect(text).toContain(' line 499 i=499\n');
    expect(text).toMatch(/WARN {2}… log over its cap: lines left out here droppedLines=\d+ droppedBytes=\d+ capBytes=4000\n/);
    await rm(storeDir, { recursive: true, force: true });
  });
});

describe.skipIf(!existsSync(TEMPORAL_BIN))('step logs on Temporal', () => {
  let suite: TemporalSuite;
  beforeAll(async () => {
    suite = await startTemporalSuite('steplogs-', ['cpu']);
  }, 120_000);
  afterAll(async () => suite?.stop(), 60_000);

  it('an executed and a failed step’s records carry their logs', async () => {
    const cwd = await tempDir('flywheel-step-logs-temporal');
    const result = await runJson(join(FIXTURES, 'noisy.ts'), ['--engine', 'temporal', '--set', 'count.broken=true'], { cwd, env: suite.env });
    const storeDir = join(cwd, '.flywheel');
    // The record in the store (`--json` prints a summary without logs).
    const record = await new LocalStore(storeDir).getRun(result.run.runId);
    const byId = Object.fromEntries((record?.steps ?? []).map((s) => [s.id, s]));
    expect(byId.talk?.status, result.stderr).toBe('executed');
    expect(byId.count?.status).toBe('failed');
    const talkLog = await blobText(storeDir, byId.talk?.logs);
    expect(talkLog).toMatch(/ WARN {2}the source looks old ageDays=40 err="Error: the export is stale\\n {4}at a stack line nobody needs"\n/);
    const countLog = await blobText(storeDir, byId.count?.logs);
    expect(countLog).toMatch(/ERROR step failed code=STEP_OUTPUT_INVALID /);
    await rm(cwd, { recursive: true, force: true });
  }, 120_000);
});
