// How an execution ended, and what the run core is told of it: the one mapping every driver uses (the
// local executor, the Temporal activities and workflow), for a step and for each element of a map.
import type { Digest } from '../../cache/digest.js';
import type { KeyHolder } from '../../cache/store.js';
import type { Usage } from '../../cache/records.js';
import type { CoreEvent, ElementResult, Outputs, StepError } from './run-protocol.js';

/** An error as it crosses from the process that saw it: its stable code, and whether a retry could help. */
export interface ExecutionError extends StepError {
  retryable: boolean;
  fix?: string;
  /** What the step ran on failed (the store, the disk, the worker), not the step (see ElementResult.infrastructure). */
  infrastructure?: boolean;
}

/**
 * How one execution of a key (one attempt of a step, or of a map element) ended. `usage`: what the attempt
 * consumed (executed, failed), or what the reused result had cost when it was computed (reused).
 */
export type ExecuteOutcome =
  /** `declined`: the step decided not to act (`ctx.decline`), the first line of its reason; stored with the result. */
  | { kind: 'executed'; outputs: Outputs; durationMs: number; logs?: Digest; declined?: string; usage?: Usage }
  /** Another run produced the result while this one waited for the key (or just before it claimed it); `declined` as its entry says. */
  | { kind: 'reused'; outputs: Outputs; durationMs: number; computedBy: string; declined?: string; usage?: Usage }
  /** Another process holds the key and the caller asked not to wait. */
  | { kind: 'contended'; holder: KeyHolder }
  /**
   * The attempt failed, or the execution this one waited for did (`shared`). `final`, where the process
   * that executed it says: the step's retry policy makes no other attempt after it (what the run core
   * will decide, by the same rule). `logs`: its captured log; `resume`: its last checkpoint.
   */
  | { kind: 'failed'; error: ExecutionError; shared: boolean; final?: boolean; logs?: Digest; resume?: unknown; usage?: Usage };

const usageOf = (outcome: { usage?: Usage }): { usage?: Usage } => (outcome.usage === undefined ? {} : { usage: outcome.usage });

/** An error message kept in a record or an activity result: long enough to act on, short enough for 10,000 of them. */
const MESSAGE_KEPT = 600;

const contendedError = (holder: KeyHolder): StepError => ({
  code: 'STEP_FAILED',
  message: `internal: a waiting claim came back held by ${holder.description}`,
});

/** What an execution of a node's key says to the core. */
export function outcomeEvent(id: string, runId: string, outcome: ExecuteOutcome): CoreEvent {
  switch (outcome.kind) {
    case 'executed':
      return {
        type: 'executed',
        id,
        outputs: outcome.outputs,
        durationMs: outcome.durationMs,
        computedBy: runId,
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
        ...(outcome.declined === undefined ? {} : { declined: outcome.declined }),
        ...usageOf(outcome),
      };
    case 'reused':
      return {
        type: 'executed',
        id,
        outputs: outcome.outputs,
        durationMs: outcome.durationMs,
        computedBy: outcome.computedBy,
        ...(outcome.declined === undefined ? {} : { declined: outcome.declined }),
        ...usageOf(outcome),
      };
    case 'failed':
      return {
        type: 'failed',
        id,
        error: { code: outcome.error.code, message: outcome.error.message },
        retryable: outcome.error.retryable && !outcome.shared,
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
        ...(outcome.resume === undefined ? {} : { resume: outcome.resume }),
        ...usageOf(outcome),
      };
    case 'contended':
      return { type: 'failed', id, error: contendedError(outcome.holder), retryable: false };
  }
}

/** What an execution of one map element says to the core. */
export function elementResult(index: number, outcome: ExecuteOutcome): ElementResult {
  switch (outcome.kind) {
    case 'executed':
      return { index, status: 'executed', ...usageOf(outcome) };
    case 'reused':
      return { index, status: 'cached', ...usageOf(outcome) };
    case 'failed':
      return {
        index,
        status: 'failed',
        error: { code: outcome.error.code, message: outcome.error.message.slice(0, MESSAGE_KEPT) },
        retryable: outcome.error.retryable && !outcome.shared,
        ...(outcome.error.infrastructure === true ? { infrastructure: true } : {}),
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
        ...usageOf(outcome),
      };
    case 'contended':
      return { index, status: 'failed', error: contendedError(outcome.holder), retryable: false };
  }
}

/** A chunk of elements that failed as a whole (its activity or process did): each element fails with that error. */
export function failedElements(indices: readonly number[], error: ExecutionError): ElementResult[] {
  const { code, message } = error;
  return indices.map((index) => ({
    index,
    status: 'failed',
    error: { code, message: message.slice(0, MESSAGE_KEPT) },
    retryable: error.retryable,
    ...(error.infrastructure === true ? { infrastructure: true } : {}),
  }));
}
