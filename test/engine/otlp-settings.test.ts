import { describe, expect, it } from 'vitest';
import { otlpSettings } from '../../engine/tracing/otlp-tracer.js';
import { tracingRequested } from '../../engine/tracing/tracing.js';
import { runSpan, stepSpan } from '../../engine/tracing/trace-ids.js';

describe('tracing settings from the OpenTelemetry variables', () => {
  it('is off unless an endpoint is set, and off when the SDK is disabled or the exporter is none', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('reads the endpoint, headers, timeout and resource as the specification says', () => {
    const settings = otlpSettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-team=ml,authorization=Bearer%20abc',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=retrain',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=ml%2Fplatform',
      OTEL_SERVICE_NAME: 'weekly-retrain',
    });
    expect(settings.url).toBe('https://collector.example:4318/v1/traces');
    expect(settings.headers).toEqual({ 'x-team': 'retrain', authorization: 'Bearer abc' });
    expect(settings.timeoutMs).toBe(2500);
    expect(settings.resource).toMatchObject({
      'service.name': 'weekly-retrain',
      'deployment.environment': 'prod',
      team: 'ml/platform',
      'telemetry.sdk.name': 'flywheel',
    });
    // The traces endpoint is used as it is; without a service name the resource's, else flywheel.
    expect(otlpSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/custom' }).url).toBe('http://c/custom');
    expect(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_RESOURCE_ATTRIBUTES: 'service.name=svc' }).resource['service.name']).toBe('svc');
    expect(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }).resource['service.name']).toBe('flywheel');
  });

  it('refuses gRPC, naming the way out', () => {
    expect(() => otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/grpc is not supported: .*4318/);
  });

  it('derives a run’s trace and span ids from its id: the same in every process, distinct per run and step', () => {
    expect(runSpan('r1')).toEqual(runSpan('r1'));
    expect(runSpan('r1').traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(stepSpan('r1', 'train').spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(stepSpan('r1', 'train').traceId).toBe(runSpan('r1').traceId);
    expect(new Set([runSpan('r1').spanId, stepSpan('r1', 'a').spanId, stepSpan('r1', 'b').spanId, stepSpan('r2', 'a').spanId]).size).toBe(4);
  });
});
