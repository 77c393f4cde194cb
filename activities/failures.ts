import { ApplicationFailure } from '@temporalio/common';
import { classifyError } from '../cache/errors.js';

/**
 * Converts an error at the Temporal boundary: the stable code becomes the failure type, what the one
 * classification says cannot be helped by a retry is non-retryable, and the fix travels in the details
 * so the CLI can print it.
 */
export function toApplicationFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const { code, message, retryable, fix, infrastructure } = classifyError(error);
  const details = { ...(fix === undefined ? {} : { fix }), ...(infrastructure === undefined ? {} : { infrastructure }) };
  return ApplicationFailure.create({
    type: code,
    message,
    nonRetryable: !retryable,
    details: Object.keys(details).length === 0 ? [] : [details],
    ...(error instanceof Error ? { cause: error } : {}),
  });
}

/** The same failure (type, message, details) marked non-retryable: no Temporal retry can change its outcome. */
export function asNonRetryable(failure: ApplicationFailure): ApplicationFailure {
  return ApplicationFailure.create({ type: failure.type ?? 'STEP_FAILED', message: failure.message, nonRetryable: true, details: failure.details ?? [] });
}
