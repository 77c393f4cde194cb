// The OpenTelemetry side of tracing.ts, loaded only when a run is traced: an SDK tracer provider with a
// batching OTLP exporter (it reads OTEL_EXPORTER_OTLP_* itself), the resource from OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, and async context so a span started inside `within` finds its parent.
import { context, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace-base';
import type { SpanIds } from './trace-ids.js';
import type { SpanAttributes, Tracer, TraceSpan } from './tracing.js';

/** Random ids, except for the next span when it is given its own (the SDK asks for them inside startSpan, synchronously). */
class GivenIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  given: SpanIds | undefined;

  generateTraceId(): string {
    return this.given?.traceId ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.given?.spanId ?? this.random.generateSpanId();
  }
}

const remote = (ids: SpanIds): Context =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });

const clean = (attributes: SpanAttributes | undefined): Record<string, string | number | boolean | string[] | number[]> =>
  Object.fromEntries(
    Object.entries(attributes ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? [...(v as unknown[])] : v]])),
  ) as Record<string, string | number | boolean | string[] | number[]>;

class OtelSpan implements TraceSpan {
  readonly context: Context;

  constructor(readonly span: Span) {
    this.context = trace.setSpan(context.active(), span);
  }

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(clean(attributes));
  }

  fail(error: { code?: string; message: string }): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    this.span.setAttributes(clean({ 'error.type': error.code ?? 'error' }));
  }

  end(endTime?: number): void {
    this.span.end(endTime);
  }

  within<T>(work: () => T): T {
    return context.with(this.context, work);
  }
}

export function otelTracer(env: NodeJS.ProcessEnv): Tracer {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const detected = detectResourcesSync({ detectors: [envDetectorSync] });
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': env.OTEL_SERVICE_NAME ?? 'flywheel' }))
    .merge(detected);
  const ids = new GivenIds();
  const provider = new BasicTracerProvider({ resource, idGenerator: ids });
  provider.addSpanProcessor(new BatchSpanProcessor(new OTLPTraceExporter()));
  trace.setGlobalTracerProvider(provider);
  const otel = provider.getTracer('flywheel');
  return {
    enabled: true,
    startSpan(name, options = {}) {
      const given = options.parent;
      // A span given its own ids starts the run's trace (a root) or continues it: its parent is known by ids too.
      const parent =
        given instanceof OtelSpan
          ? given.context
          : given !== undefined && 'traceId' in given
            ? remote(given)
            : options.ids !== undefined
              ? ROOT_CONTEXT
              : context.active();
      ids.given = options.ids;
      try {
        const span = otel.startSpan(
          name,
          { attributes: clean(options.attributes), ...(options.startTime === undefined ? {} : { startTime: options.startTime }) },
          parent,
        );
        return new OtelSpan(span);
      } finally {
        ids.given = undefined;
      }
    },
    silently: (work) => context.with(suppressTracing(context.active()), work),
    async flush() {
      // An unreachable collector costs the run its trace, never the run itself.
      await provider.forceFlush().catch(() => undefined);
    },
  };
}
