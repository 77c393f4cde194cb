// Where a run's time went, as an OpenTelemetry trace: one per run, a span per step with its key
// resolution, execution and the step's own spans below it. Configured by the standard OTEL_* variables;
// with none set the exporter is not even loaded and every span is a no-op (a cached run pays nothing).

import { classifyError } from '../../cache/errors.js';
import type { SpanIds } from './trace-ids.js';

/** Attribute values a span takes (OpenTelemetry's primitive values and their arrays). */
export type SpanAttributes = Record<string, string | number | boolean | readonly string[] | readonly number[] | undefined>;

/** A span, as the engine and the steps use it. */
export interface TraceSpan {
  setAttributes(attributes: SpanAttributes): void;
  /** Marks the span failed with the error's code and message. */
  fail(error: { code?: string; message: string }): void;
  end(endTime?: number): void;
}

export interface SpanOptions {
  /** The parent: a span of this process, or one known by its ids (a run's or a step's, see trace-ids.ts). */
  parent?: TraceSpan | SpanIds;
  /** The ids this span takes (a run's root or a step's span, which other processes know by them). */
  ids?: SpanIds;
  attributes?: SpanAttributes;
  /** Epoch milliseconds; default now (a span drawn afterwards from a record gives its times). */
  startTime?: number;
}

export interface Tracer {
  readonly enabled: boolean;
  /**
   * A span under `parent`, or one with its own `ids` (a run's root). Without either it records nothing:
   * parents are passed, not found in an ambient context (AsyncLocalStorage would slow every promise of a
   * 10,000-element map), so work nobody traces (a map's elements past the first chunks) stays untraced.
   */
  startSpan(name: string, options?: SpanOptions): TraceSpan;
  /** Sends what is buffered (a run's end waits for it: the CLI exits right after). */
  flush(): Promise<void>;
}

export const NO_SPAN: TraceSpan = { setAttributes: () => undefined, fail: () => undefined, end: () => undefined };

export const NO_TRACING: Tracer = { enabled: false, startSpan: () => NO_SPAN, flush: () => Promise.resolve() };

/**
 * Whether the environment asks for traces: an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.toLowerCase() === 'none') return false;
  return (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' || (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '';
}

let active: Tracer = NO_TRACING;
let starting: Promise<Tracer> | undefined;

/** The process's tracer: the no-op one until `startTracing` found it configured. */
export function tracer(): Tracer {
  return active;
}

/**
 * Starts the process's tracer once, from the environment: the OTLP exporter (otlp-tracer.ts) is imported
 * only here, only when asked for. Later calls return the same tracer. Settings it cannot honour (gRPC)
 * leave tracing off with a warning: they cost the trace, never the run.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracer> {
  if (!tracingRequested(env)) return Promise.resolve(active);
  starting ??= import('./otlp-tracer.js')
    .then(({ otlpTracer }) => {
      active = otlpTracer(env);
      return active;
    })
    .catch((error: unknown) => {
      process.stderr.write(`warning: tracing is off: ${(error as Error).message}\n`);
      return active;
    });
  return starting;
}

/** A step's `ctx.span`: `work` in a span of its own under `parent`, ended (and marked failed if it throws) with it. */
export type SpanFunction = <T>(name: string, work: (span: Pick<TraceSpan, 'setAttributes'>) => Promise<T> | T, attributes?: SpanAttributes) => Promise<T>;

/** The `ctx.span` of a step whose work is `parent`. */
export function spansUnder(parent: TraceSpan | undefined): SpanFunction {
  return async (name, work, attributes) => {
    const span = active.startSpan(name, { ...(parent === undefined ? {} : { parent }), ...(attributes === undefined ? {} : { attributes }) });
    try {
      return await work(span);
    } catch (error) {
      span.fail(classifyError(error));
      throw error;
    } finally {
      span.end();
    }
  };
}
