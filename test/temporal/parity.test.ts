import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../cache/open-store.js';
import type { RunRecord, StepRunRecord, Usage } from '../../cache/records.js';
import { FIXTURES, runJson } from '../support/cli.js';
import { startTemporalSuite, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

// Both executors drive one run core: a local and a Temporal run of the same pipeline must make the same
// decisions (what ran, what was retried and how often, what failed and was left out, why) and write
// the same records, down to keys and output digests. Only what differs by nature is set aside: run
// ids, times, hosts and the digests of log blobs (their lines carry timestamps).

const parity = join(FIXTURES, 'parity.ts');

let suite: TemporalSuite | undefined;
beforeAll(async () => {
  suite = await startTemporalSuite('parity-', ['cpu']);
}, 120_000);
afterAll(() => suite?.stop(), 60_000);

/** Usage without the times it took (they differ between any two runs); what steps reported must match. */
function comparableUsage(usage: Usage | undefined): unknown {
  if (usage === undefined) return undefined;
  const { wallMs: _w, cpuMs: _c, ...rest } = usage;
  return rest;
}

/** A step record without what differs between any two runs. */
function comparable(step: StepRunRecord, runIds: string[]): unknown {
  const { startedAt: _s, durationMs: _d, savedMs: _v, logs: _l, computedBy, spent, saved, ...rest } = step;
  let reason = rest.reason;
  for (const runId of runIds) reason = reason.replaceAll(runId, '<run>');
  const elements = rest.elements === undefined ? undefined : { ...rest.elements, failures: rest.elements.failures?.map(({ logs: _f, ...f }) => f) };
  return {
    ...rest,
    reason,
    ...(elements === undefined ? {} : { elements }),
    ...(computedBy === undefined ? {} : { computedBy: '<run>' }),
    spent: comparableUsage(spent),
    saved: comparableUsage(saved),
  };
}

async function recordOf(cwd: string, runId: string): Promise<RunRecord> {
  const run = await openStore(join(cwd, '.flywheel')).getRun(runId);
  if (run === undefined) throw new Error(`no record of run ${runId}`);
  return run;
}

describe('a local and a Temporal run of one pipeline', () => {
  it('make identical decisions and records: a retried step, a map with a retried, a broken and a failing element, and their re-runs', async () => {
    const env = suite?.env ?? {};
    const local = await tempDir('flywheel-parity-local');
    const temporal = await tempDir('flywheel-parity-temporal');
    const runs: Record<'local' | 'temporal', RunRecord[]> = { local: [], temporal: [] };
    for (let round = 0; round < 2; round++) {
      for (const [where, cwd, args] of [
        ['local', local, []],
        ['temporal', temporal, ['--engine', 'temporal']],
      ] as const) {
        const { code, run, stderr } = await runJson(parity, [...args], { cwd, env });
        expect(code, stderr).toBe(0);
        runs[where].push(await recordOf(cwd, run.runId));
      }
    }
    const [first, again] = [0, 1].map((i) => {
      const l = runs.local[i] as RunRecord;
      const t = runs.temporal[i] as RunRecord;
      const ids = [...runs.local, ...runs.temporal].map((r) => r.runId);
      return { local: l.steps.map((s) => comparable(s, ids)), temporal: t.steps.map((s) => comparable(s, ids)), status: [l.status, t.status] };
    });
    expect(first?.temporal).toEqual(first?.local);
    expect(again?.temporal).toEqual(again?.local);

    // And what they agree on is what the pipeline asks for.
    const step = (id: string) => runs.local[0]?.steps.find((s) => s.id === id);
    expect(step('flaky')).toMatchObject({ status: 'executed', attempts: 2 });
    expect(step('gate')).toMatchObject({ status: 'executed', declined: 'count 6 is under the bar' });
    expect(step('square')?.elements).toMatchObject({
      total: 6,
      executed: 4,
      failed: 2,
      leftOut: '4-5',
      retried: { '2': '2,5' },
      failures: [
        { index: 4, code: 'ELEMENT_BROKEN', message: 'element 4 is broken' },
        { index: 5, code: 'STEP_FAILED', message: 'element 5 keeps failing', attempts: 2 },
      ],
    });
    // The second runs re-run only what failed: the two elements left out, each tried by the policy again.
    expect(runs.local[1]?.steps.map((s) => [s.id, s.status])).toEqual([
      ['seed', 'cached'],
      ['flaky', 'cached'],
      ['square', 'executed'],
      ['gate', 'cached'],
      ['total', 'cached'],
    ]);
    expect(runs.local[1]?.steps.find((s) => s.id === 'square')?.reason).toContain('elements 4–5 failed last time');
    // The decision not to act is part of the result: the cached gate is declined on both engines.
    for (const where of ['local', 'temporal'] as const)
      expect(
        runs[where][1]?.steps.find((s) => s.id === 'gate'),
        where,
      ).toMatchObject({ status: 'cached', declined: 'count 6 is under the bar' });
  }, 240_000);

  it('run a component.yaml step alike: the same key (its digest as the version), reasons and output bytes', async () => {
    const env = suite?.env ?? {};
    const local = await tempDir('flywheel-parity-component-local');
    const temporal = await tempDir('flywheel-parity-component-temporal');
    const components = join(FIXTURES, 'components.ts');
    const l = await runJson(components, ['--set', 'count.MinLength=4'], { cwd: local, env });
    const t = await runJson(components, ['--set', 'count.MinLength=4', '--engine', 'temporal'], { cwd: temporal, env });
    expect(l.code, l.stderr).toBe(0);
    expect(t.code, t.stderr).toBe(0);
    const ids = [l.run.runId, t.run.runId];
    const [lr, tr] = [await recordOf(local, l.run.runId), await recordOf(temporal, t.run.runId)];
    expect(tr.steps.map((s) => comparable(s, ids))).toEqual(lr.steps.map((s) => comparable(s, ids)));
    expect(tr.steps.find((s) => s.id === 'count')).toMatchObject({ status: 'executed', components: { version: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  }, 120_000);

  it('run a Tangle pipeline file alike (Intro-Data Flow): the same keys and bytes, and a local run after the Temporal one is fully cached', async () => {
    const env = suite?.env ?? {};
    const local = await tempDir('flywheel-parity-tangle-local');
    const temporal = await tempDir('flywheel-parity-tangle-temporal');
    const dataFlow = join(FIXTURES, 'tangle', 'Intro-Data Flow.pipeline.component.yaml');
    const l = await runJson(dataFlow, [], { cwd: local, env });
    const t = await runJson(dataFlow, ['--engine', 'temporal'], { cwd: temporal, env });
    expect(l.code, l.stderr).toBe(0);
    expect(t.code, t.stderr).toBe(0);
    const ids = [l.run.runId, t.run.runId];
    const [lr, tr] = [await recordOf(local, l.run.runId), await recordOf(temporal, t.run.runId)];
    expect(tr.steps.map((s) => comparable(s, ids))).toEqual(lr.steps.map((s) => comparable(s, ids)));
    expect(tr.steps.map((s) => s.id)).toEqual(['Generate Data', 'Split', 'Train', 'Predict', 'Evaluate']);
    const after = await runJson(dataFlow, [], { cwd: temporal, env });
    expect(after.run.steps.map((s) => [s.id, s.status, s.cacheKey])).toEqual(tr.steps.map((s) => [s.id, 'cached', s.cacheKey]));
  }, 120_000);
});
