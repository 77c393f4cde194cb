// Payloads exchanged between workflows, activities and clients. Plain data only: digests and
// references, never artifact bytes. Workflow code is sandboxed, so record and core types cross by
// `import type` (erased when compiled) and nothing here loads Node or cache/ at run time.
import type { EngineErrorCode } from '../cache/errors.js';
import type { Prices } from '../engine/cost/price-table.js';
import type { StepRunRecord } from '../cache/records.js';
import type { QueueName } from '../engine/core/queues.js';
import type { RetryPolicy } from '../engine/core/retry-policy.js';
import type { ExecuteOutcome } from '../engine/core/outcome.js';
import type { CommandOf, CoreNode, CoreSnapshot, ElementResult, Outputs, Resolution, RunHeader, StepError, StepProgress } from '../engine/core/run-protocol.js';

/** What any worker needs to rebuild a run's pipeline and reach its store. */
export interface RunContext {
  runId: string;
  /** The pipeline as the user named it (a name in pipelines/ or a path). */
  pipelineRef: string;
  /** The absolute path the client resolved; workers fall back to `pipelineRef` when it does not exist there. */
  pipelinePath: string;
  /** Merged config overrides (`--config` then `--set`). */
  overrides: Record<string, unknown>;
  /** The `--set` arguments as typed, kept in the run record. */
  setArgs: string[];
  /** Store location: an absolute path or `s3://bucket/prefix`. */
  store: string;
  /** Read-only layers the run may reuse results from (FLYWHEEL_READ_FROM, as absolute locations); absent: none. */
  readFrom?: string[];
  /** The key ids the client trusts: a worker that does not trust every one of them refuses the run. Absent: no trust asked. */
  trustedKeys?: string[];
  /** Prepended to task queue names (`cpu`, `gpu-h200`), so several deployments or tests share one server. */
  queuePrefix: string;
  /** The price table where the run was started (FLYWHEEL_PRICES or flywheel.prices.json), kept in its record. */
  prices?: Prices;
}

/** A node of the run core (its retry policy included) plus what scheduling its activity needs. */
export interface DagNode extends CoreNode {
  queue: QueueName;
  timeoutMs?: number;
  /** The step's own heartbeat timeout, when it declares one. */
  heartbeatTimeoutMs?: number;
}

export interface RunOptions {
  force: string[];
  forceAll: boolean;
  /** Most steps executing at once; cache look-ups do not count. */
  concurrency: number;
  /** How long a step's worker may stay silent before Temporal retries the step elsewhere. */
  heartbeatTimeoutMs: number;
}

/** State carried across continue-as-new: the core's snapshot, and when and where the run began. */
export interface CarriedState extends CoreSnapshot {
  generation: number;
  startedAt: string;
  host: string;
  pid: number;
}

export interface PipelineRunInput {
  /** Omitted by schedules: the workflow then derives the run id from its own start time. */
  runId?: string;
  context: Omit<RunContext, 'runId'>;
  options: RunOptions;
  carried?: CarriedState;
}

export interface PipelineRunResult {
  runId: string;
  pipeline: string;
  status: 'succeeded' | 'failed';
}

/** What `openRun` returns: the validated DAG as the worker sees it, and who opened the run. */
export interface OpenedRun {
  pipeline: string;
  nodes: DagNode[];
  host: string;
  pid: number;
}

export interface ResolveRequest {
  context: RunContext;
  options: Pick<RunOptions, 'force' | 'forceAll'>;
  /** A look-up round from the run core, in dependency order. */
  ids: string[];
  /** Outputs of the finished upstream steps the round reads. */
  known: Record<string, Outputs>;
  /** Finished step records to journal first (a save travelling with the look-up saves an activity). */
  save: StepRunRecord[];
}

export interface ResolveResult {
  resolutions: Resolution[];
}

export interface SaveRequest {
  context: RunContext;
  steps: StepRunRecord[];
}

export interface CloseRequest {
  context: RunContext;
  header: RunHeader;
  nodes: Array<{ id: string; step: string; upstream?: string[] }>;
  steps: StepRunRecord[];
}

/** Where and under which limits a step's (or a map chunk's) activity runs. */
export interface Scheduling {
  queue: QueueName;
  /** One attempt's limit. */
  timeoutMs?: number;
  heartbeatTimeoutMs: number;
  /** The step's retry policy: the run core retries failures; Temporal only hands a lost worker's attempt to another. */
  retry: RetryPolicy;
}

/** One attempt of a step: the run core's `execute` command, with where it runs. */
export interface StepExecutionInput extends Scheduling {
  context: RunContext;
  command: CommandOf<'execute'>;
  /** Claims of the key this execution already waited for: if one failed, its failure is shared. */
  waitedFor: string[];
  /** The checkpoint a lost attempt left, handed on when the key's execution moves to the shared workflow. */
  resume?: unknown;
  /** Steps to look up once this one has its outputs (see workflows/look-ahead.ts). */
  lookAhead?: LookAheadRequest;
}

/** The steps an executing one unblocks, to look up with its outputs: a round of `resolveSteps` made by its worker. */
export interface LookAheadRequest {
  options: Pick<RunOptions, 'force' | 'forceAll'>;
  /** Its children whose other upstream are done. */
  ids: string[];
  /** Outputs of their finished upstream steps other than the executing one. */
  known: Record<string, Outputs>;
}

/** How an attempt that did not fail ended (a failed one is an activity failure carrying its outcome). */
export type StepAttempt = Exclude<ExecuteOutcome, { kind: 'failed' }> & {
  /** With `contended`: the last checkpoint, for the execution that waits for the key instead. */
  resume?: unknown;
  /** With outputs, when asked to look ahead: what it found for the request's steps. */
  lookedAhead?: { resolutions: Resolution[] };
};

/** What a failed attempt's activity failure carries in its details. */
export interface FailureDetails {
  outcome: Extract<ExecuteOutcome, { kind: 'failed' }>;
}

/** A chunk of a map's elements, executed by one activity on the step's queue: the core's `execute-elements` command. */
export interface ElementsInput extends Scheduling {
  context: RunContext;
  command: CommandOf<'execute-elements'>;
}

export interface ElementsResult {
  results: ElementResult[];
  /**
   * How long the chunk took on the worker. In the activity's result, hence in the history: the workflow
   * sizes the next chunks by it and a replay reads the same figure (its own clock could differ).
   * Absent from workers of releases before adaptive chunks.
   */
  durationMs?: number;
}

/** Stores a map's collection once its elements are over (an activity on the cpu worker). */
export interface AssembleInput {
  context: RunContext;
  command: CommandOf<'assemble'>;
}

/** What waiting for a key's holder ended in. */
export type KeyWait = { kind: 'failed'; error: StepError } | { kind: 'reused'; outcome: Extract<ExecuteOutcome, { kind: 'reused' }> } | { kind: 'free' };

/** Heartbeat details of a running step: the last progress, whose `details` a retried attempt resumes from. */
export interface StepHeartbeat {
  fraction?: number;
  message?: string;
  details?: unknown;
}

/** What the `progress` query returns. */
export interface RunProgress {
  runId: string;
  pipeline: string;
  generation: number;
  steps: StepProgress[];
}

export const SEARCH_ATTRIBUTE_PIPELINE = 'FlywheelPipeline';
export const SEARCH_ATTRIBUTE_RUN_ID = 'FlywheelRunId';

/** The failure type of a pipeline workflow whose run failed (its record holds the details). */
export const RUN_FAILED: EngineErrorCode = 'RUN_FAILED';
