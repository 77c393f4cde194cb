import { ActivityFailure, ApplicationFailure, isCancellation, TimeoutFailure } from '@temporalio/workflow';
import type { EngineErrorCode } from '../cache/errors.js';
import type { ExecuteOutcome } from '../engine/core/outcome.js';
import type { CacheKey } from '../cache/digest.js';
import type { KeyComponents } from '../cache/cache-key.js';
import type { Outputs, StepProgress } from '../engine/core/run-protocol.js';
import { NO_RETRIES } from '../engine/core/retry-policy.js';
import { RUN_FAILED, type FailureDetails, type KeyWait, type RunContext, type StepAttempt, type StepExecutionInput, type StepHeartbeat } from './types.js';

const CANCELLED: EngineErrorCode = 'STEP_CANCELLED';
const FAILED: EngineErrorCode = 'STEP_FAILED';

type Failed = Extract<ExecuteOutcome, { kind: 'failed' }>;

export function isCancelled(error: unknown): boolean {
  return isCancellation(error) || (error instanceof ActivityFailure && isCancellation(error.cause));
}

/**
 * A failed activity as the outcome of the attempt it ran, for the run core: a step's own failure
 * carries its outcome (see FailureDetails); any other failure keeps its stable code (the
 * ApplicationFailure's type) and whether another attempt could help. Work that outlived the lost-worker
 * attempts Temporal made resumes from its last heartbeat if the step's policy tries it again.
 */
export function failedOutcome(error: unknown): Failed {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const failed = (code: string, message: string, retryable: boolean, infrastructure: boolean, resume?: unknown): Failed => ({
    kind: 'failed',
    error: { code, message, retryable, ...(infrastructure ? { infrastructure } : {}) },
    shared: false,
    ...(resume === undefined ? {} : { resume }),
  });
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as (Partial<FailureDetails> & { infrastructure?: boolean }) | undefined;
    return details?.outcome ?? failed(cause.type ?? FAILED, cause.message, !cause.nonRetryable, details?.infrastructure === true);
  }
  if (isCancellation(cause)) return failed(CANCELLED, 'the run was cancelled', false, false);
  // Timed out: the worker was lost (or stopped answering) past every attempt Temporal made, not the step's failure.
  if (cause instanceof TimeoutFailure) return failed(FAILED, cause.message, true, true, (cause.lastHeartbeatDetails as StepHeartbeat | undefined)?.details);
  return failed(FAILED, (cause as Error | undefined)?.message ?? String(cause), true, false);
}

/** What a step activity of an earlier Flywheel returned, in histories recorded before outcomes had a `kind`. */
type LegacyAttempt =
  { contended: Extract<StepAttempt, { kind: 'contended' }>['holder']; resume?: unknown } | { outputs: Outputs; durationMs: number; computedBy: string };

/**
 * An attempt as the step activity returned it. Histories of runs started before outcomes had a `kind`
 * replay with their recorded results: those are read as the outcomes they were.
 */
export function asAttempt(result: StepAttempt | LegacyAttempt, runId: string): StepAttempt {
  if ('kind' in result) return result;
  if ('contended' in result) return { kind: 'contended', holder: result.contended, ...(result.resume === undefined ? {} : { resume: result.resume }) };
  const { outputs, durationMs, computedBy } = result;
  return computedBy === runId ? { kind: 'executed', outputs, durationMs } : { kind: 'reused', outputs, durationMs, computedBy };
}

/** A shared step execution's input as an earlier Flywheel wrote it, before inputs carried the core's command. */
interface LegacyStepInput {
  context: RunContext;
  nodeId: string;
  cacheKey: CacheKey;
  upstream: Record<string, Outputs>;
  upstreamKeys: Record<string, CacheKey>;
  queue: StepExecutionInput['queue'];
  timeoutMs?: number;
  heartbeatTimeoutMs: number;
  lookAgain: boolean;
  waitedFor: string[];
  resume?: unknown;
}

/** A step execution's input, read as this Flywheel writes it (a shared execution started before an upgrade replays with its own). */
export function asStepInput(input: StepExecutionInput | LegacyStepInput): StepExecutionInput {
  if ('command' in input) return input;
  const { context, nodeId, cacheKey, upstream, upstreamKeys, queue, timeoutMs, heartbeatTimeoutMs, lookAgain, waitedFor, resume } = input;
  // The worker makes the key's components again (and checks the key): none travel with the command.
  const command = { type: 'execute' as const, id: nodeId, key: cacheKey, components: {} as KeyComponents, lookAgain, attempt: 1, upstream, upstreamKeys };
  return {
    context,
    command,
    queue,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    heartbeatTimeoutMs,
    retry: NO_RETRIES,
    waitedFor,
    ...(resume === undefined ? {} : { resume }),
  };
}

/** What waiting for a key ended in, with a reused result recorded before outcomes had a `kind` read as the outcome it was. */
export function asKeyWait(waited: KeyWait | { kind: 'reused'; result: { outputs: Outputs; durationMs: number; computedBy: string } }): KeyWait {
  if (waited.kind !== 'reused' || !('result' in waited)) return waited;
  const { outputs, durationMs, computedBy } = waited.result;
  return { kind: 'reused', outcome: { kind: 'reused', outputs, durationMs, computedBy } };
}

/** The failure a pipeline workflow ends with when its run failed or was cancelled, naming the failed steps. */
export function runFailure(runId: string, pipeline: string, status: 'failed' | 'cancelled', steps: readonly StepProgress[]): ApplicationFailure {
  const failed = steps.filter((s) => s.status === 'failed').map((s) => s.id);
  const what = status === 'cancelled' ? 'was cancelled' : 'failed';
  return ApplicationFailure.create({
    type: RUN_FAILED,
    message: `run ${runId} of ${pipeline} ${what}: ${failed.join(', ') || 'steps skipped'}`,
    nonRetryable: true,
    details: [{ runId }],
  });
}
