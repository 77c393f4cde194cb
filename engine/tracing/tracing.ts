// Where a run's time went, as an OpenTelemetry trace: one per run, a span per step with its key
// resolution, execution and the step's own spans below it. Configured by the standard OTEL_* variables;
// with none set nothing of OpenTelemetry is loaded and every span is a no-op (a cached run pays nothing).

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
  /** Runs `work` with this span as the parent of the spans started inside it (across awaits). */
  within<T>(work: () => T): T;
}

export interface SpanOptions {
  /** The parent: a span of this process, or one known by its ids (a run's or a step's, see trace-ids.ts). Default: the active span. */
  parent?: TraceSpan | SpanIds;
  /** The ids this span takes (a run's root or a step's span, which other processes know by them). */
  ids?: SpanIds;
  attributes?: SpanAttributes;
  /** Epoch milliseconds; default now (a span drawn afterwards from a record gives its times). */
  startTime?: number;
}

export interface Tracer {
  readonly enabled: boolean;
  /** A span under `parent`, else under the span active where it is called (else a new trace). */
  startSpan(name: string, options?: SpanOptions): TraceSpan;
  /** Runs `work` with no spans recorded inside it (a map's elements past the traced ones). */
  silently<T>(work: () => T): T;
  /** Sends what is buffered (a run's end waits for it: the CLI exits right after). */
  flush(): Promise<void>;
}

const NO_SPAN: TraceSpan = {
  setAttributes: () => undefined,
  fail: () => undefined,
  end: () => undefined,
  within: (work) => work(),
};

export const NO_TRACING: Tracer = { enabled: false, startSpan: () => NO_SPAN, silently: (work) => work(), flush: () => Promise.resolve() };

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
 * Starts the process's tracer once, from the environment: the OpenTelemetry SDK and its OTLP exporter are
 * imported only here, only when asked for. Later calls return the same tracer.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracer> {
  if (!tracingRequested(env)) return Promise.resolve(active);
  starting ??= import('./otel-tracer.js').then(({ otelTracer }) => {
    active = otelTracer(env);
    return active;
  });
  return starting;
}

/**
 * Runs `work` in a span of its own under the active one (a step's work, for code a step calls), ending it
 * when `work` ends and marking it failed when `work` throws. A no-op span when tracing is off.
 *
 * @example
 * const reply = await withSpan(`chat ${model}`, async (span) => {
 *   const completion = await client.chat.completions.create(request);
 *   span.setAttributes({ 'gen_ai.usage.input_tokens': completion.usage?.prompt_tokens });
 *   return completion;
 * });
 */
export async function withSpan<T>(name: string, work: (span: Pick<TraceSpan, 'setAttributes'>) => Promise<T> | T, attributes?: SpanAttributes): Promise<T> {
  const span = active.startSpan(name, attributes === undefined ? {} : { attributes });
  return span.within(async () => {
    try {
      return await work(span);
    } catch (error) {
      span.fail(classifyError(error));
      throw error;
    } finally {
      span.end();
    }
  });
}
