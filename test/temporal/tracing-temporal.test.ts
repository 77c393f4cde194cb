import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runJson } from '../support/cli.js';
import { startJaeger, type JaegerServer, type JaegerSpan } from '../support/jaeger.js';
import { startTemporalSuite, type TemporalSuite } from '../support/temporal.js';
import { tempDir } from '../support/temp-dir.js';

const SERVICE = `flywheel-temporal-${process.pid}`;
let jaeger: JaegerServer | undefined;
let suite: TemporalSuite | undefined;

beforeAll(async () => {
  jaeger = await startJaeger();
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_SERVICE_NAME: SERVICE, OTEL_BSP_SCHEDULE_DELAY: '100' };
  suite = await startTemporalSuite('trace-', ['cpu', 'gpu-h200'], () => otel);
}, 180_000);

afterAll(async () => {
  await suite?.stop();
  await jaeger?.stop();
}, 60_000);

describe('OpenTelemetry traces of a run on Temporal, read back from a real Jaeger', () => {
  it('one trace per run across the cpu and the gpu worker: steps under the run, executions under their steps, hits and misses', async () => {
    const cwd = await tempDir('traced-temporal');
    const env = suite?.env ?? {};
    const args = ['--engine', 'temporal', '--profile', 'gpu', '--set', 'numbers.count=6'];
    const first = await runJson(join(FIXTURES, 'mapped.ts'), args, { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const second = await runJson(join(FIXTURES, 'mapped.ts'), args, { cwd, env });
    expect(second.code, second.stderr).toBe(0);

    const traces = (await jaeger?.traces(SERVICE, 2)) ?? [];
    const rootOf = (t: JaegerSpan[]) => t.find((s) => s.parent === undefined);
    const byRun = new Map(traces.filter((t) => rootOf(t) !== undefined).map((t) => [rootOf(t)?.tags['cicd.pipeline.run.id'], t]));
    // Every span of a run, from every process, is in its one trace.
    expect(traces.filter((t) => rootOf(t) === undefined)).toEqual([]);
    const spans = byRun.get(first.run.runId) ?? [];
    const root = rootOf(spans) as JaegerSpan;
    expect(root.operationName).toBe('run mapped');
    expect(root.tags).toMatchObject({ 'flywheel.executor': 'temporal', 'cicd.pipeline.result': 'success' });
    const step = (id: string) => spans.find((s) => s.operationName === `step ${id}`) as JaegerSpan;
    for (const id of ['numbers', 'square', 'total']) {
      expect(step(id)?.parent).toBe(root.spanID);
      expect(step(id).tags).toMatchObject({ 'flywheel.cache.hit': false, 'flywheel.status': 'executed' });
    }
    const under = (parent: JaegerSpan) => spans.filter((s) => s.parent === parent.spanID);
    // Executions ran on the workers and sit under their steps: cpu steps on the cpu queue, the map's chunks on the gpu one.
    const total = under(step('total')).find((s) => s.operationName === 'execute total') as JaegerSpan;
    expect(total.tags['flywheel.task_queue']).toBe('trace-cpu');
    expect(under(total).map((s) => s.operationName)).toContain('step work');
    const chunks = under(step('square')).filter((s) => s.operationName.startsWith('elements '));
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((c) => c.tags['flywheel.task_queue'] === 'trace-gpu-h200')).toBe(true);
    expect(step('square').tags).toMatchObject({ 'flywheel.elements.total': 6, 'flywheel.elements.executed': 6 });
    expect(spans.filter((s) => s.operationName === 'resolve keys').every((s) => s.parent === root.spanID)).toBe(true);
    // Two processes besides the one that closed the run served it; every span names its worker.
    expect(new Set(spans.filter((s) => s.tags['flywheel.worker'] !== undefined).map((s) => s.tags['flywheel.task_queue'])).size).toBe(2);

    // The second run: all hits, no executions.
    const again = byRun.get(second.run.runId) ?? [];
    for (const id of ['numbers', 'square', 'total'])
      expect(again.find((s) => s.operationName === `step ${id}`)?.tags).toMatchObject({ 'flywheel.cache.hit': true, 'flywheel.computed_by': first.run.runId });
    expect(again.filter((s) => s.operationName.startsWith('execute '))).toEqual([]);
  }, 180_000);
});

describe('usage and cost of a run on Temporal', () => {
  it('what each worker measured reaches the run record: GPU-seconds from the gpu worker, a map’s counts, CPU time; the cached re-run saves it', async () => {
    const cwd = await tempDir('costed-temporal');
    const prices = join(cwd, 'prices.json');
    await writeFile(prices, JSON.stringify({ currency: 'USD', gpuHour: { H200: 3.5 }, counts: { pages: 0.01, scored: 0 } }));
    const env = { ...(suite?.env ?? {}), FLYWHEEL_PRICES: prices };
    const args = ['--engine', 'temporal', '--set', 'fine-tune.burnMs=100'];
    const first = await runJson(join(FIXTURES, 'costed.ts'), args, { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const spent = (id: string) => first.run.steps.find((s) => s.id === id)?.spent;
    expect(spent('fine-tune')?.gpuSeconds).toEqual({ 'NVIDIA H200': 8 * 12 * 3600 });
    expect(spent('fine-tune')?.cpuMs).toBeGreaterThanOrEqual(50);
    expect(spent('score')?.counts).toEqual({ scored: 5 });
    expect(first.run.cost).toMatchObject({ currency: 'USD', saved: 0, unpriced: [] });
    expect(first.run.cost?.spent).toBeCloseTo(96 * 3.5 + 1.2, 6);

    const second = await runJson(join(FIXTURES, 'costed.ts'), args, { cwd, env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.run.usage?.saved).toMatchObject({ gpuSeconds: { 'NVIDIA H200': 8 * 12 * 3600 }, counts: { pages: 120, scored: 5 } });
    expect(second.run.cost?.saved).toBeCloseTo(first.run.cost?.spent ?? NaN, 6);
  }, 180_000);
});
