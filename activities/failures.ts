import { ApplicationFailure } from '@temporalio/common';
import { FlywheelError, PipelineInvalidError, formatProblems } from '../engine/errors.js';

/**
 * Converts an error at the Temporal boundary: the stable code becomes the failure type, bad input and
 * bad config are non-retryable, and the fix travels in the details so the CLI can print it.
 */
export function toApplicationFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof PipelineInvalidError) {
    return ApplicationFailure.create({ type: 'PIPELINE_INVALID', message: `pipeline ${error.pipeline} is invalid on this worker:\n${formatProblems(error.problems)}`, nonRetryable: true });
  }
  if (error instanceof FlywheelError) {
    return ApplicationFailure.create({ type: error.code, message: error.message, nonRetryable: !error.retryable, details: error.options.fix === undefined ? [] : [{ fix: error.options.fix }], cause: error });
  }
  const e = error as { name?: string; message?: string } | undefined;
  if (e?.name === 'ZodError') return ApplicationFailure.create({ type: 'STEP_INVALID_DATA', message: e.message ?? 'invalid data', nonRetryable: true });
  return ApplicationFailure.create({ type: 'STEP_FAILED', message: e?.message ?? String(error), nonRetryable: false, ...(error instanceof Error ? { cause: error } : {}) });
}

/** The same failure (type, message, details) marked non-retryable: no Temporal retry can change its outcome. */
export function asNonRetryable(failure: ApplicationFailure): ApplicationFailure {
  return ApplicationFailure.create({ type: failure.type ?? 'STEP_FAILED', message: failure.message, nonRetryable: true, details: failure.details ?? [] });
}
