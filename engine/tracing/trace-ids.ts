// A run's trace and its step spans have ids derived from the run id: every process serving the run (the
// CLI, Temporal workers, the activity that closes the run) puts its spans in the same trace under the
// right step without passing a context around, and the workflow stays as deterministic as it was.
import { createHash } from 'node:crypto';

const hex = (text: string, length: number): string => {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, length);
  // All zeros is OpenTelemetry's invalid id; a SHA-256 prefix is that with probability 2^-64 at worst.
  return /^0+$/.test(digest) ? `${digest.slice(0, -1)}1` : digest;
};

/** The run's trace id (32 hex digits). */
export const runTraceId = (runId: string): string => hex(`flywheel-trace\0${runId}`, 32);

/** The run's root span id (16 hex digits). */
export const runSpanId = (runId: string): string => hex(`flywheel-run\0${runId}`, 16);

/** A step's span id in the run (16 hex digits). */
export const stepSpanId = (runId: string, stepId: string): string => hex(`flywheel-step\0${runId}\0${stepId}`, 16);

/** Where a span goes: a trace, and the span it is a child of (or, with `self`, the ids the span itself takes). */
export interface SpanIds {
  traceId: string;
  spanId: string;
}

/** The run's root span, as a parent or as the ids to give it. */
export const runSpan = (runId: string): SpanIds => ({ traceId: runTraceId(runId), spanId: runSpanId(runId) });

/** A step's span in the run, as a parent or as the ids to give it. */
export const stepSpan = (runId: string, stepId: string): SpanIds => ({ traceId: runTraceId(runId), spanId: stepSpanId(runId, stepId) });
