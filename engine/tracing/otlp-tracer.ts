// The tracer a traced run uses: spans as plain records with their parents passed explicitly, sent as
// OTLP/HTTP with a JSON body (which every OTLP/HTTP receiver accepts: the Collector, Jaeger, Tempo,
// Honeycomb, Datadog's agent) in one request at the run's end, and in the background when many pile up.
// Written for Flywheel rather than taken from the OpenTelemetry SDK: a cached 1,000-step run makes a
// thousand spans, and the SDK's per-span work and loading cost more than the run itself (bench (g)).
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import type { SpanIds } from './trace-ids.js';
import { NO_SPAN, type SpanAttributes, type SpanOptions, type Tracer, type TraceSpan } from './tracing.js';

/** Spans waiting to be sent that make a request of their own before the run's end. */
const SEND_AT = 2048;

interface Settings {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  resource: Record<string, string | number>;
  /** Long-lived processes (workers) send what they have this often. */
  intervalMs: number;
}

/** `key=value,key=value` with percent-encoded values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS). */
function pairs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    out[decodeURIComponent(part.slice(0, at).trim())] = decodeURIComponent(part.slice(at + 1).trim());
  }
  return out;
}

/** The exporter's settings from OpenTelemetry's standard variables; an error names what cannot be honoured. */
export function otlpSettings(env: NodeJS.ProcessEnv): Settings {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/json').toLowerCase();
  if (protocol === 'grpc')
    throw new Error('OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: Flywheel sends OTLP/HTTP (port 4318 on a Collector); unset it or use http/json');
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '';
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').replace(/\/+$/, '');
  const resource = pairs(env.OTEL_RESOURCE_ATTRIBUTES);
  return {
    url: traces !== '' ? traces : `${base}/v1/traces`,
    headers: { ...pairs(env.OTEL_EXPORTER_OTLP_HEADERS), ...pairs(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    timeoutMs: Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000),
    resource: {
      'telemetry.sdk.name': 'flywheel',
      'telemetry.sdk.language': 'nodejs',
      'host.name': hostname(),
      'process.pid': process.pid,
      ...resource,
      'service.name': env.OTEL_SERVICE_NAME ?? resource['service.name'] ?? 'flywheel',
    },
    intervalMs: Number(env.OTEL_BSP_SCHEDULE_DELAY ?? 5000),
  };
}

/**
 * POSTs a JSON body and resolves with the status. node:http rather than fetch: fetch's HTTP parser is
 * WebAssembly compiled on first use, which alone costs a cached run tens of milliseconds.
 */
function post(settings: Settings, body: string): Promise<number> {
  const url = new URL(settings.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...settings.headers },
        timeout: settings.timeoutMs,
      },
      (response) => {
        response.resume(); // the answer's body says nothing we act on
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${settings.timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

/** Random ids from a pool of random bytes (one system call per few hundred spans). */
class Ids {
  private pool = Buffer.alloc(0);
  private at = 0;

  next(bytes: 8 | 16): string {
    if (this.at + bytes > this.pool.length) {
      this.pool = randomBytes(4096);
      this.at = 0;
    }
    const id = this.pool.toString('hex', this.at, this.at + bytes);
    this.at += bytes;
    return id;
  }
}

/** Epoch nanoseconds as OTLP/JSON writes them (a decimal string: more digits than a double holds). */
function nanos(ms: number): string {
  const whole = Math.floor(ms);
  return `${whole}${String(Math.round((ms - whole) * 1e6)).padStart(6, '0')}`;
}

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } };

function anyValue(value: string | number | boolean | readonly string[] | readonly number[]): AnyValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  return { arrayValue: { values: (value as ReadonlyArray<string | number>).map((v) => anyValue(v)) } };
}

function keyValues(attributes: SpanAttributes | Record<string, string | number>): Array<{ key: string; value: AnyValue }> {
  const out: Array<{ key: string; value: AnyValue }> = [];
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out.push({ key, value: anyValue(value) });
  }
  return out;
}

class RecordedSpan implements TraceSpan {
  readonly spanId: string;
  private readonly attributes: SpanAttributes = {};
  private status: { code: 2; message: string } | undefined;
  private ended = false;

  constructor(
    private readonly tracer: OtlpTracer,
    readonly name: string,
    readonly traceId: string,
    spanId: string,
    readonly parentSpanId: string | undefined,
    readonly start: number,
    attributes: SpanAttributes | undefined,
  ) {
    this.spanId = spanId;
    if (attributes !== undefined) Object.assign(this.attributes, attributes);
  }

  setAttributes(attributes: SpanAttributes): void {
    if (!this.ended) Object.assign(this.attributes, attributes);
  }

  fail(error: { code?: string; message: string }): void {
    this.status = { code: 2, message: error.message };
    this.setAttributes({ 'error.type': error.code ?? 'error' });
  }

  end(endTime?: number): void {
    if (this.ended) return;
    this.ended = true;
    this.tracer.ended({
      traceId: this.traceId,
      spanId: this.spanId,
      ...(this.parentSpanId === undefined ? {} : { parentSpanId: this.parentSpanId }),
      name: this.name,
      kind: 1,
      startTimeUnixNano: nanos(this.start),
      endTimeUnixNano: nanos(endTime ?? this.tracer.now()),
      attributes: keyValues(this.attributes),
      ...(this.status === undefined ? {} : { status: this.status }),
    });
  }
}

class OtlpTracer implements Tracer {
  readonly enabled = true;
  private readonly ids = new Ids();
  private buffer: unknown[] = [];
  private readonly sending = new Set<Promise<void>>();
  private warned = false;
  // Wall-clock epoch with sub-millisecond steps: performance's origin plus its monotonic clock.
  private readonly origin = performance.timeOrigin;

  constructor(private readonly settings: Settings) {
    const timer = setInterval(() => this.send(), settings.intervalMs);
    timer.unref();
  }

  now(): number {
    return this.origin + performance.now();
  }

  startSpan(name: string, options: SpanOptions = {}): TraceSpan {
    const parent = options.parent;
    if (parent === undefined && options.ids === undefined) return NO_SPAN; // untraced work (see Tracer.startSpan)
    const ids: SpanIds | undefined = parent instanceof RecordedSpan || (parent !== undefined && 'traceId' in parent) ? parent : undefined;
    if (parent !== undefined && ids === undefined) return NO_SPAN; // under a span that records nothing
    const traceId = ids?.traceId ?? options.ids?.traceId ?? this.ids.next(16);
    const spanId = options.ids?.spanId ?? this.ids.next(8);
    return new RecordedSpan(this, name, traceId, spanId, ids?.spanId, options.startTime ?? this.now(), options.attributes);
  }

  ended(span: unknown): void {
    this.buffer.push(span);
    if (this.buffer.length >= SEND_AT) this.send();
  }

  /** Sends what is buffered in one request, in the background; `flush` waits for every request. */
  private send(): void {
    if (this.buffer.length === 0) return;
    const spans = this.buffer;
    this.buffer = [];
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: keyValues(this.settings.resource) }, scopeSpans: [{ scope: { name: 'flywheel' }, spans }] }],
    });
    const request = post(this.settings, body).then(
      (status) => {
        if (status < 200 || status >= 300) this.warn(`${this.settings.url} answered ${status}`);
      },
      (error: unknown) => this.warn(`${this.settings.url}: ${(error as Error).message}`),
    );
    this.sending.add(request);
    void request.finally(() => this.sending.delete(request));
  }

  /** One line on stderr the first time a trace cannot be sent: it costs the trace, never the run. */
  private warn(why: string): void {
    if (this.warned) return;
    this.warned = true;
    process.stderr.write(`warning: could not send the trace (${why}); the run goes on untraced\n`);
  }

  async flush(): Promise<void> {
    this.send();
    await Promise.all([...this.sending]);
  }
}

export function otlpTracer(env: NodeJS.ProcessEnv): Tracer {
  return new OtlpTracer(otlpSettings(env));
}
