import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runJson } from '../support/cli.js';
import { judgeDriftProject } from '../support/judge-drift-project.js';
import { scriptedServers } from '../support/openai-server.js';
import { isJudgePrompt, scriptedJudgeVerdict, readJudgePrompt } from '../support/scripted-judge.js';
import { startJaeger, type JaegerServer, type JaegerSpan } from '../support/jaeger.js';
import { tempDir } from '../support/temp-dir.js';
import { join } from 'node:path';

const serve = scriptedServers();
let jaeger: JaegerServer;
beforeAll(async () => {
  jaeger = await startJaeger();
}, 60_000);
afterAll(async () => jaeger?.stop());

/** The spans of one trace by operation name, and a span's children. */
function tree(spans: readonly JaegerSpan[]) {
  const named = (name: string) => spans.filter((s) => s.operationName === name);
  const one = (name: string): JaegerSpan => {
    const found = named(name);
    expect(found, `spans named ${name}`).toHaveLength(1);
    return found[0] as JaegerSpan;
  };
  const children = (span: JaegerSpan) => spans.filter((s) => s.parent === span.spanID).map((s) => s.operationName);
  return { named, one, children };
}

describe('OpenTelemetry traces of a local run, read back from a real Jaeger', () => {
  it('one trace per run: a root span, a span per step with its resolution and execution, the step’s own spans, cache attributes on hits and misses', async () => {
    const cwd = await tempDir('traced');
    const service = `flywheel-test-${process.pid}-${Date.now()}`;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_SERVICE_NAME: service, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' };
    const first = await runJson(join(FIXTURES, 'traced.ts'), [], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const second = await runJson(join(FIXTURES, 'traced.ts'), [], { cwd, env });
    expect(second.code, second.stderr).toBe(0);

    const traces = await jaeger.traces(service, 2);
    const byRun = new Map(traces.map((t) => [t.find((s) => s.parent === undefined)?.tags['cicd.pipeline.run.id'], t]));
    expect([...byRun.keys()].sort()).toEqual([first.run.runId, second.run.runId].sort());

    // The first run executed everything.
    const run1 = tree(byRun.get(first.run.runId) ?? []);
    const root = run1.one('run traced');
    expect(root.parent).toBeUndefined();
    expect(root.tags).toMatchObject({ 'cicd.pipeline.name': 'traced', 'cicd.pipeline.result': 'success', 'flywheel.executor': 'local' });
    expect(root.service).toBe(service);
    expect(run1.children(root).sort()).toEqual(['step numbers', 'step square', 'step total']);
    const total = run1.one('step total');
    expect(total.tags).toMatchObject({
      'cicd.pipeline.task.name': 'total',
      'cicd.pipeline.task.run.result': 'success',
      'flywheel.cache.hit': false,
      'flywheel.status': 'executed',
    });
    expect(total.tags['flywheel.reason_codes']).toBeDefined();
    // What the execution spent, as the record keeps it.
    expect(total.tags['flywheel.spent.cpu_ms']).toBeTypeOf('number');
    expect(total.tags['flywheel.spent.wall_ms']).toBeTypeOf('number');
    expect(run1.children(total).sort()).toEqual(['execute total', 'resolve key']);
    const execute = run1.one('execute total');
    expect(run1.children(execute).sort()).toEqual(['claim key', 'materialize inputs', 'step work', 'store outputs']);
    // Blob transfers: what the step read (the map's collection) and wrote (its sum).
    const moved = (name: string) => run1.named(name).find((s) => s.parent === execute.spanID)?.tags;
    expect(Number(moved('materialize inputs')?.['flywheel.bytes.read'])).toBeGreaterThan(30);
    expect(moved('store outputs')).toMatchObject({ 'flywheel.bytes.written': 4, 'flywheel.outputs': 1 });
    const work = run1.named('step work').find((s) => s.parent === execute.spanID) as JaegerSpan;
    const own = run1.one('add up');
    expect(own.parent).toBe(work.spanID);
    expect(own.tags['app.terms']).toBe(30);
    // A 30-element map: 20 element spans, the rest counted on the step's span.
    const square = run1.one('step square');
    expect(square.tags).toMatchObject({ 'flywheel.elements.total': 30, 'flywheel.elements.executed': 30, 'flywheel.elements.traced_chunks': 20 });
    expect(run1.children(square).filter((n) => n.startsWith('elements '))).toHaveLength(20);
    // A chunk is the unit of a map's trace: its elements' own work is not drawn (numbers and total only).
    expect(run1.named('step work').length).toBe(2);

    // The second run found everything cached: hits, with the run that computed them, and no executions.
    const run2 = tree(byRun.get(second.run.runId) ?? []);
    for (const id of ['numbers', 'square', 'total']) {
      const step = run2.one(`step ${id}`);
      expect(step.tags).toMatchObject({
        'flywheel.cache.hit': true,
        'flywheel.status': 'cached',
        'flywheel.computed_by': first.run.runId,
        'flywheel.layer': 'own',
      });
      // A hit saves what its result had cost.
      expect(step.tags['flywheel.saved.cpu_ms']).toBeTypeOf('number');
    }
    expect(run2.named('step work')).toEqual([]);
  }, 120_000);

  it('an LLM call is a span of its own under the step that made it: model, tokens in and out from the API’s usage fields', async () => {
    const server = await serve((request) =>
      isJudgePrompt(request) ? { content: scriptedJudgeVerdict(readJudgePrompt(request)) } : { status: 400, content: 'not a judge prompt' },
    );
    const cwd = await tempDir('traced-llm');
    const service = `flywheel-llm-${process.pid}-${Date.now()}`;
    const project = await judgeDriftProject(cwd, server.baseURL);
    Object.assign(project.env, { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_SERVICE_NAME: service });
    const run = await project.run();
    expect(run.code, run.stderr).toBe(0);
    const [trace] = await jaeger.traces(service, 1);
    const chats = (trace ?? []).filter((s) => s.operationName === 'chat judge-llm');
    // The run's root says what it spent in tokens: the same sums.
    const root = (trace ?? []).find((s) => s.parent === undefined);
    expect(root?.tags['flywheel.spent.tokens.input']).toBe(server.requests.reduce((sum, r) => sum + (r.usage?.prompt_tokens ?? 0), 0));
    expect(chats).toHaveLength(server.requests.length);
    const sum = (values: unknown[]) => values.reduce((a: number, v) => a + Number(v), 0);
    expect(sum(chats.map((c) => c.tags['gen_ai.usage.input_tokens']))).toBe(sum(server.requests.map((r) => r.usage?.prompt_tokens)));
    expect(sum(chats.map((c) => c.tags['gen_ai.usage.output_tokens']))).toBe(sum(server.requests.map((r) => r.usage?.completion_tokens)));
    expect(chats[0]?.tags).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'judge-llm', 'gen_ai.response.model': 'judge-llm' });
    // Each call sits under the work of the step that asked (calibration and the golden-set re-scoring).
    const byId = new Map((trace ?? []).map((s) => [s.spanID, s]));
    const stepOf = (span: JaegerSpan): string | undefined => {
      for (let at: JaegerSpan | undefined = span; at !== undefined; at = at.parent === undefined ? undefined : byId.get(at.parent))
        if (at.tags['cicd.pipeline.task.name'] !== undefined) return at.operationName;
      return undefined;
    };
    expect([...new Set(chats.map(stepOf))].sort()).toEqual(['step calibrate-judge', 'step judge-drift']);
  }, 120_000);
});
