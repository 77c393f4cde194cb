// Payloads exchanged between workflows, activities and clients. Plain data only: digests and
// references, never artifact bytes. Workflow code is sandboxed, so nothing here imports Node or cache/.

export type QueueName = 'cpu' | 'gpu-h200';

/** One stored output, as the cache records it (structurally the same as cache/records OutputRecord). */
export interface OutputRef {
  kind: 'file' | 'dir' | 'json';
  digest: string;
  size: number;
  fileName?: string | undefined;
}
export type Outputs = Record<string, OutputRef>;

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
  /** Prepended to task queue names (`cpu`, `gpu-h200`), so several deployments or tests share one server. */
  queuePrefix: string;
}

/** A node of the planned DAG: only what scheduling needs. */
export interface DagNode {
  id: string;
  upstream: string[];
  queue: QueueName;
  timeoutMs?: number;
  /** The step's own heartbeat timeout, when it declares one. */
  heartbeatTimeoutMs?: number;
  retries: number;
}

export type StepStatus = 'pending' | 'running' | 'executed' | 'cached' | 'failed' | 'skipped';

/** One step's outcome in a run (the run record adds key components when it is saved). */
export interface StepOutcome {
  id: string;
  step: string;
  status: StepStatus;
  cacheKey?: string;
  reasonCodes: string[];
  reason: string;
  outputs: Outputs;
  startedAt?: string;
  durationMs?: number;
  savedMs?: number;
  attempts?: number;
  error?: { code: string; message: string };
  /** The outside state the key included (steps with an `external` hook), so recording needs no second read. */
  external?: unknown;
}

export interface RunOptions {
  force: string[];
  forceAll: boolean;
  /** Most steps executing at once; cache look-ups do not count. */
  concurrency: number;
  /** How long a step's worker may stay silent before Temporal retries the step elsewhere. */
  heartbeatTimeoutMs: number;
}

/** State carried across continue-as-new: finished statuses and the outputs later steps still need. */
export interface CarriedState {
  generation: number;
  startedAt: string;
  statuses: Record<string, StepStatus>;
  outputs: Record<string, Outputs>;
  keys: Record<string, string>;
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

/** What `openRun` returns: the validated DAG as the worker sees it. */
export interface OpenedRun {
  pipeline: string;
  nodes: DagNode[];
}

export interface ResolveRequest {
  context: RunContext;
  options: Pick<RunOptions, 'force' | 'forceAll'>;
  /** Candidates in topological order; one is resolved when all its upstream outputs are known. */
  nodeIds: string[];
  /** Outputs of the finished upstream steps the candidates read. */
  known: Record<string, Outputs>;
}

export interface Miss {
  id: string;
  cacheKey: string;
  reasonCodes: string[];
  reason: string;
  external?: unknown;
}

export interface ResolveResult {
  hits: StepOutcome[];
  misses: Miss[];
}

export interface StepExecutionInput {
  context: RunContext;
  nodeId: string;
  cacheKey: string;
  /** Outputs and keys of the node's upstream steps. */
  upstream: Record<string, Outputs>;
  upstreamKeys: Record<string, string>;
  queue: QueueName;
  timeoutMs?: number;
  retries: number;
  heartbeatTimeoutMs: number;
  /** Forced or cache disabled: execute even if a result appears meanwhile. */
  ignoreCache: boolean;
}

export interface StepExecutionResult {
  outputs: Outputs;
  durationMs: number;
  /** The run whose execution produced the outputs. */
  computedBy: string;
  attempts: number;
}

/** Heartbeat details of a running step: the last progress, whose `details` a retried attempt resumes from. */
export interface StepHeartbeat {
  fraction?: number;
  message?: string;
  details?: unknown;
}

export interface RecordRunRequest {
  context: RunContext;
  pipeline: string;
  startedAt: string;
  nodes: DagNode[];
  outcomes: StepOutcome[];
  status: 'running' | 'succeeded' | 'failed';
}

/** What the `progress` query returns. */
export interface RunProgress {
  runId: string;
  pipeline: string;
  generation: number;
  steps: Array<{ id: string; status: StepStatus; reason: string }>;
}

export function taskQueueName(prefix: string, queue: QueueName): string {
  return `${prefix}${queue}`;
}

export const SEARCH_ATTRIBUTE_PIPELINE = 'FlywheelPipeline';
export const SEARCH_ATTRIBUTE_RUN_ID = 'FlywheelRunId';

/** The failure type of a pipeline workflow whose run failed (its record holds the details). */
export const RUN_FAILED = 'RUN_FAILED';

/** Failure types no retry can fix: Temporal must not retry them. */
export const NON_RETRYABLE_TYPES = ['PIPELINE_INVALID', 'PIPELINE_NOT_FOUND', 'PIPELINE_LOAD_FAILED', 'KEY_MISMATCH', 'INPUT_INVALID', 'INPUT_UNAVAILABLE', 'STEP_OUTPUT_INVALID', 'STEP_OUTPUT_MISSING', 'STEP_INVALID_DATA', 'STEP_FAILED_FINAL'];
