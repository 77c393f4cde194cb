// A run's trace, drawn from what its driver sees: the run core's commands and events. One root span for the
// run; a span per step from its key resolution to its record; below it the resolution of a miss and each
// execution (whose own spans take it as their parent). Map elements: the first few chunks and every failed
// one get a span, the rest are counted on the step's span, so a 10,000-element map stays readable.
import type { RunRecord, StepRunRecord, Usage } from '../../cache/records.js';
import type { ElementResult, Resolution } from '../core/run-protocol.js';
import { runSpan, stepSpan } from './trace-ids.js';
import type { SpanAttributes, Tracer, TraceSpan } from './tracing.js';
import { gpuSecondsOf, tokensOf } from '../core/usage.js';

/** Element chunks that get their own span; the others are counted on the map step's span. */
export const TRACED_CHUNKS = 20;

/** OpenTelemetry CI/CD results (cicd.pipeline.result, cicd.pipeline.task.run.result) for Flywheel's statuses. */
const RESULT: Record<string, string> = {
  succeeded: 'success',
  executed: 'success',
  cached: 'success',
  failed: 'failure',
  cancelled: 'cancellation',
  skipped: 'skip',
};

interface StepSpans {
  step: TraceSpan;
  /** When its key's look-up began: a miss gets a span for it, a hit is all look-up (the step's span says so). */
  resolving?: number;
  chunks: number;
}

export class RunTrace {
  private readonly root: TraceSpan;
  private readonly steps = new Map<string, StepSpans>();

  constructor(
    private readonly tracer: Tracer,
    private readonly run: { pipeline: string; runId: string; executor: string; startTime?: number },
  ) {
    this.root = tracer.startSpan(`run ${run.pipeline}`, {
      ids: runSpan(run.runId),
      attributes: { 'cicd.pipeline.name': run.pipeline, 'cicd.pipeline.run.id': run.runId, 'flywheel.executor': run.executor },
      ...(run.startTime === undefined ? {} : { startTime: run.startTime }),
    });
  }

  /**
   * The run's root and step spans drawn afterwards from its final record, with the times it kept: on
   * Temporal the run core lives in the workflow, so the activity that closes the run draws them. The
   * workers' spans (executions, look-ups) already point at them by id.
   */
  static async drawn(tracer: Tracer, record: RunRecord): Promise<void> {
    if (!tracer.enabled) return;
    const start = Date.parse(record.startedAt);
    const trace = new RunTrace(tracer, { pipeline: record.pipeline, runId: record.runId, executor: record.engine ?? 'temporal', startTime: start });
    for (const step of record.steps) {
      const began = step.startedAt === undefined ? start : Date.parse(step.startedAt);
      trace.stepSpans(step.id, began);
      trace.finished(step, began + (step.durationMs ?? 0));
    }
    await trace.end(record, start + (record.durationMs ?? 0));
  }

  get enabled(): boolean {
    return this.tracer.enabled;
  }

  /** The run's root span: what a driver hands on to processes it starts. */
  get rootSpan(): TraceSpan {
    return this.root;
  }

  private stepSpans(id: string, startTime?: number): StepSpans {
    let spans = this.steps.get(id);
    if (spans === undefined) {
      const step = this.tracer.startSpan(`step ${id}`, {
        parent: this.root,
        ids: stepSpan(this.run.runId, id),
        ...(startTime === undefined ? {} : { startTime }),
        attributes: {
          'cicd.pipeline.task.name': id,
          'cicd.pipeline.task.run.id': `${this.run.runId}/${id}`,
          'cicd.pipeline.run.id': this.run.runId,
        },
      });
      spans = { step, chunks: 0 };
      this.steps.set(id, spans);
    }
    return spans;
  }

  /** A round of key look-ups starts for these steps. */
  resolving(ids: readonly string[]): void {
    if (!this.enabled) return;
    const now = Date.now();
    for (const id of ids) this.stepSpans(id).resolving = now;
  }

  /** A step's key and what the cache holds for it. */
  resolved(resolution: Resolution): void {
    if (!this.enabled) return;
    const spans = this.stepSpans(resolution.id);
    const hit = resolution.kind === 'hit';
    const attributes = {
      'flywheel.cache.hit': hit,
      ...(resolution.kind === 'error' ? {} : { 'flywheel.cache.key': resolution.key }),
      ...(resolution.kind === 'miss' || resolution.kind === 'map' ? { 'flywheel.reason_codes': resolution.codes } : {}),
      ...(resolution.kind === 'hit' ? { 'flywheel.computed_by': resolution.computedBy, 'flywheel.layer': resolution.layer ?? 'own' } : {}),
    };
    spans.step.setAttributes(attributes);
    if (hit) return;
    // Only a miss gets a span for its look-up: a thousand hits are a thousand step spans, not two thousand.
    const resolve = this.tracer.startSpan('resolve key', {
      parent: spans.step,
      attributes,
      ...(spans.resolving === undefined ? {} : { startTime: spans.resolving }),
    });
    if (resolution.kind === 'error') resolve.fail(resolution.error);
    resolve.end();
  }

  /** An attempt of a step starts: its span, under the step's; the execution's own spans take it as parent. */
  executing(id: string, attempt: number): TraceSpan | undefined {
    if (!this.enabled) return undefined;
    return this.tracer.startSpan(`execute ${id}`, { parent: this.stepSpans(id).step, attributes: { 'flywheel.attempt': attempt } });
  }

  /** A chunk of a map's elements starts: a span for the first few chunks, none (the step's) after that. */
  executingElements(id: string, indices: readonly number[]): TraceSpan | undefined {
    if (!this.enabled) return undefined;
    const spans = this.stepSpans(id);
    if (spans.chunks++ >= TRACED_CHUNKS) return undefined;
    const range = indices.length === 1 ? String(indices[0]) : `${indices[0]}-${indices.at(-1)}`;
    return this.tracer.startSpan(`elements ${range}`, { parent: spans.step, attributes: { 'flywheel.elements.indices': range } });
  }

  /** A chunk's results: its span (or, for a chunk without one, a span only for its failures) ends. */
  elementsDone(id: string, span: TraceSpan | undefined, results: readonly ElementResult[]): void {
    if (!this.enabled) return;
    const failed = results.filter((r) => r.status === 'failed');
    const target =
      span ??
      (failed.length > 0 ? this.tracer.startSpan(`elements ${failed.map((r) => r.index).join(',')} failed`, { parent: this.stepSpans(id).step }) : undefined);
    if (target === undefined) return;
    target.setAttributes({ 'flywheel.elements.executed': results.filter((r) => r.status === 'executed').length, 'flywheel.elements.failed': failed.length });
    const firstError = failed[0]?.status === 'failed' ? failed[0].error : undefined;
    if (firstError !== undefined) target.fail(firstError);
    target.end();
  }

  /** A step's record is final: the step's span takes its outcome and ends. */
  finished(record: StepRunRecord, endTime?: number): void {
    if (!this.enabled) return;
    const spans = this.stepSpans(record.id);
    spans.step.setAttributes({
      'flywheel.step': record.step,
      'flywheel.status': record.status,
      'cicd.pipeline.task.run.result': RESULT[record.status] ?? record.status,
      'flywheel.cache.hit': record.status === 'cached',
      'flywheel.reason': record.reason,
      'flywheel.reason_codes': record.reasonCodes,
      ...(record.cacheKey === undefined ? {} : { 'flywheel.cache.key': record.cacheKey }),
      ...(record.attempts === undefined ? {} : { 'flywheel.attempts': record.attempts }),
      ...(record.layer === undefined ? {} : { 'flywheel.layer': record.layer }),
      ...(record.computedBy === undefined ? {} : { 'flywheel.computed_by': record.computedBy }),
      ...(record.declined === undefined ? {} : { 'flywheel.declined': record.declined }),
      ...(record.elements === undefined
        ? {}
        : {
            'flywheel.elements.total': record.elements.total,
            'flywheel.elements.executed': record.elements.executed,
            'flywheel.elements.cached': record.elements.cached,
            'flywheel.elements.failed': record.elements.failed,
            'flywheel.elements.traced_chunks': Math.min(spans.chunks, TRACED_CHUNKS),
          }),
      ...usageAttributes('spent', record.spent),
      ...usageAttributes('saved', record.saved),
    });
    if (record.error !== undefined) spans.step.fail(record.error);
    spans.step.end(endTime);
  }

  /** The run's record is final: the root span ends, and what is buffered is sent. */
  async end(record: RunRecord, endTime?: number): Promise<void> {
    if (!this.enabled) return;
    this.root.setAttributes({
      'cicd.pipeline.result': RESULT[record.status] ?? record.status,
      'flywheel.status': record.status,
      ...usageAttributes('spent', record.usage?.spent),
      ...usageAttributes('saved', record.usage?.saved),
    });
    if (record.status === 'failed') this.root.fail({ message: `run ${record.runId} failed` });
    this.root.end(endTime);
    await this.tracer.flush();
  }
}

/** What a step or run spent or saved, as span attributes: `flywheel.spent.cpu_ms`, `.gpu_seconds`, `.tokens.input` / `.output`. */
function usageAttributes(kind: 'spent' | 'saved', usage: Usage | undefined): SpanAttributes {
  if (usage === undefined) return {};
  const tokens = tokensOf(usage);
  const gpu = gpuSecondsOf(usage);
  return {
    [`flywheel.${kind}.wall_ms`]: usage.wallMs,
    [`flywheel.${kind}.cpu_ms`]: usage.cpuMs,
    ...(gpu === 0 ? {} : { [`flywheel.${kind}.gpu_seconds`]: gpu, [`flywheel.${kind}.gpu_types`]: Object.keys(usage.gpuSeconds ?? {}) }),
    ...(tokens.calls === 0 ? {} : { [`flywheel.${kind}.tokens.input`]: tokens.input, [`flywheel.${kind}.tokens.output`]: tokens.output }),
  };
}
