// How often a step or a map element is tried, and how long to wait in between: one policy per step,
// applied by the run core to a plain step and to each element alike, on every executor. Pure: the
// Temporal workflow imports it (and derives its activities' retry options from it).

/** A step's retry policy, from its `resources` (see defineStep). */
export interface RetryPolicy {
  /** Attempts in all, the first included: `resources.retries` + 1. */
  readonly attempts: number;
  /** The wait before the second attempt; each later wait is `backoff` times longer, up to `maxDelayMs`. */
  readonly delayMs: number;
  readonly backoff: number;
  readonly maxDelayMs: number;
  /** The error codes that are retried; absent: every failure the error classification calls retryable. */
  readonly retryOn?: readonly string[];
  /**
   * On Temporal, how often an execution whose worker was lost (it stopped heartbeating, or shut down)
   * is handed to another worker, resuming from its last checkpoint. Not a failure of the step: it does
   * not use up `attempts`. Temporal carries these out, with this policy's waits.
   */
  readonly lostWorkerAttempts: number;
}

const DEFAULT_RETRY_DELAY_MS = 250;
const BACKOFF = 2;
const MAX_DELAY_MS = 30_000;
const LOST_WORKER_ATTEMPTS = 5;

/** Codes no policy retries: a cancelled execution, or a worker running other code than the run. */
const NEVER_RETRIED = new Set(['STEP_CANCELLED', 'KEY_MISMATCH']);

/** The policy of a step's resources (durations already in milliseconds). */
export function retryPolicy(resources: {
  retries?: number | undefined;
  retryDelayMs?: number | undefined;
  retryOn?: readonly string[] | undefined;
}): RetryPolicy {
  return {
    attempts: 1 + Math.max(0, resources.retries ?? 0),
    delayMs: resources.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    backoff: BACKOFF,
    maxDelayMs: Math.max(MAX_DELAY_MS, resources.retryDelayMs ?? 0),
    ...(resources.retryOn === undefined ? {} : { retryOn: [...resources.retryOn] }),
    lostWorkerAttempts: LOST_WORKER_ATTEMPTS,
  };
}

/** A policy that never tries again (steps that predate policies, tests). */
export const NO_RETRIES: RetryPolicy = retryPolicy({});

/** A small, stable hash of a text: spreads retries of many elements without randomness the workflow could not replay. */
function spread(salt: string): number {
  let h = 2166136261;
  for (let i = 0; i < salt.length; i++) h = Math.imul(h ^ salt.charCodeAt(i), 16777619);
  return (h >>> 0) / 0xffffffff;
}

/**
 * The decision after a failed attempt: the milliseconds to wait before attempt `attempt + 1`, or
 * undefined when that failure is final (no attempts left, or a code the policy does not retry). The
 * wait doubles with each attempt, between half and one and a half times its nominal length (stable per
 * `salt`: a node id, with an element's index), so many elements failing at once do not retry at once.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, error: { code: string; retryable?: boolean | undefined }, salt: string): number | undefined {
  if (attempt >= policy.attempts || NEVER_RETRIED.has(error.code)) return undefined;
  const retried = policy.retryOn === undefined ? error.retryable === true : policy.retryOn.includes(error.code);
  if (!retried) return undefined;
  const nominal = Math.min(policy.maxDelayMs, policy.delayMs * policy.backoff ** (attempt - 1));
  return Math.round(nominal * (0.5 + spread(`${salt}#${attempt}`)));
}

/** Temporal's retry options for a step's activity, derived from its policy: they cover lost workers only. */
export function lostWorkerRetry(policy: RetryPolicy): {
  initialInterval: number;
  backoffCoefficient: number;
  maximumInterval: number;
  maximumAttempts: number;
} {
  return {
    initialInterval: Math.max(1000, policy.delayMs),
    backoffCoefficient: policy.backoff,
    maximumInterval: policy.maxDelayMs,
    maximumAttempts: policy.lostWorkerAttempts,
  };
}
