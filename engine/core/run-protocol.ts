// What goes into and comes out of the run core. Plain data only: the Temporal workflow imports these
// types too, so nothing here may need Node at run time (record types are imported as types).
import type { Lineage } from '../define/define-step.js';
import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { ElementReason, OutputRecord, PriceTable, ReasonCode, RunRecord, StepRunRecord, StepStatus, Usage } from '../../cache/records.js';
import type { Progress } from '../define/define-step.js';
import type { RetryPolicy } from './retry-policy.js';

/** A step's stored outputs, by output name. */
export type Outputs = Record<string, OutputRecord>;

/** What the core knows of a pipeline node: who it is and whom it waits for. Drivers add what they schedule by. */
export interface CoreNode {
  readonly id: string;
  /** The step definition's id. */
  readonly step: string;
  readonly upstream: readonly string[];
  /** Set for a map node: its elements are handed out one chunk at a time and must succeed in this share. */
  readonly map?: { readonly minSuccessRatio: number; readonly batchSize: number };
  /** How often the step (each element of a map) is tried. Default: once. */
  readonly retry?: RetryPolicy;
  /** The digest of its code fingerprint, for lineage. */
  readonly code?: string;
  /** The step asked for its lineage (`ctx.lineage`): its execute command carries its ancestors. */
  readonly lineage?: boolean;
}

/** How one element of a map ended: executed here, reused (another run computed it meanwhile), or failed. */
export interface ElementResult {
  index: number;
  status: 'executed' | 'cached' | 'failed';
  error?: StepError;
  /** A failure another attempt could help with (the core decides whether one is made). */
  retryable?: boolean;
  /**
   * It failed for what it ran on (the store, the disk, a lost worker), not for itself: a map is not
   * assembled without it, since a clean run would have included it (see RunCoreOptions.mapInfrastructureFailures).
   */
  infrastructure?: boolean;
  /** A failed element's captured log. */
  logs?: Digest;
  /** What its execution consumed (executed, failed), or what the reused result had cost (cached). */
  usage?: Usage;
}

/** Why a step failed, as its record keeps it. */
export type StepError = NonNullable<StepRunRecord['error']>;

/** The key resolver's answer for one node: its key and what the cache holds for it. */
export type Resolution =
  | {
      kind: 'hit';
      id: string;
      key: CacheKey;
      components: KeyComponents;
      outputs: Outputs;
      computedBy: string;
      savedMs: number;
      /** The result is used, but the user should hear about it (a result of other code, onCodeChange: 'warn'). */
      warning?: string;
      /** The read-only layer (FLYWHEEL_READ_FROM) the result was found in; absent: the run's own store. */
      layer?: string;
      /** A whole map's hit: how many elements its collection holds and the blob of their keys. */
      elements?: { total: number; keys: Digest };
      /** The result's step decided not to act (`ctx.decline`): the reason its entry keeps. */
      declined?: string;
      /** What producing the result cost, as its entry keeps it: what the hit saves. */
      usage?: Usage;
    }
  /** A map whose whole collection missed: each element was looked up; `run` lists those to execute (index ranges). */
  | {
      kind: 'map';
      id: string;
      key: CacheKey;
      components: KeyComponents;
      codes: ReasonCode[];
      reason: string;
      rejected: boolean;
      /** Results of other code kept for some elements (onCodeChange: 'warn'), counted. */
      warning?: string;
      /** What the cached elements' results had cost, as their entries keep it. */
      saved?: Usage;
      elements: PlannedElements & {
        /** The blob listing every element's key (a run writes it at once, so `cache gc` spares them while it runs). */
        keys?: Digest;
      };
    }
  | { kind: 'miss'; id: string; key: CacheKey; components: KeyComponents; codes: ReasonCode[]; reason: string; rejected: boolean }
  /** The key could not be made (e.g. the step's outside state is unreadable): the step fails. */
  | { kind: 'error'; id: string; error: StepError };

/** Events a driver feeds the core. */
export type CoreEvent =
  | { type: 'resolved'; resolution: Resolution }
  /** A look-up round is over: its nodes not resolved (an upstream in the round missed) wait again. */
  | { type: 'resolve-done'; round: number }
  /** A whole look-up round failed (e.g. the store is unreachable): its unresolved nodes fail. */
  | { type: 'resolve-failed'; round: number; error: StepError }
  | { type: 'waiting'; id: string; holder: string }
  | { type: 'progress'; id: string; progress: Progress }
  /** The key was executed, by this run or (`computedBy` another run) by someone it waited for; `declined`: the step decided not to act. */
  | { type: 'executed'; id: string; outputs: Outputs; durationMs: number; computedBy: string; logs?: Digest; declined?: string; usage?: Usage }
  /**
   * An attempt failed (or a map's assembly did). `retryable`: another attempt could help (the core's retry
   * policy decides); `logs`: the blob of the attempt's log lines, when one ran; `resume`: its last checkpoint.
   */
  | { type: 'failed'; id: string; error: StepError; retryable?: boolean; logs?: Digest; resume?: unknown; usage?: Usage }
  /** A `wait` the core asked for is over: retries that are due start. */
  | { type: 'tick' }
  /** A chunk of a map's elements is over (each executed, reused or failed). */
  | { type: 'elements-done'; id: string; results: ElementResult[]; parallel: number }
  /** A map's collection is stored (`keys`: the blob listing its elements' keys). */
  | { type: 'assembled'; id: string; outputs: Outputs; keys: Digest }
  /** The last `save` is stored (`ok`), or could not be: its records go into the next save or the final record. */
  | { type: 'saved'; ok: boolean }
  /** Start nothing new; finish and save what is in flight (Temporal's continue-as-new), until `idle`. */
  | { type: 'drain' }
  | { type: 'cancel' };

/** The header of a run record: everything but its steps. */
export type RunHeader = Omit<RunRecord, 'steps'>;

/** What observers (the terminal reporter, the run view) are told as a run goes. */
export type RunEvent =
  /** `prices`: the table the run's usage is priced by, when it has one. */
  | { type: 'run-started'; runId: string; pipeline: string; steps: string[]; prices?: PriceTable }
  | { type: 'step-running'; id: string; reason: string }
  | { type: 'step-waiting'; id: string; holder: string }
  /** Attempt `attempt` failed with `error`; the next starts in `delayMs`. */
  | { type: 'step-retrying'; id: string; attempt: number; delayMs: number; error: StepError }
  | { type: 'step-progress'; id: string; progress: Progress }
  | { type: 'step-finished'; step: StepRunRecord }
  | { type: 'run-finished'; run: RunRecord };

/** Decisions the core hands its driver. */
export type CoreCommand =
  /** Resolve these nodes' keys and look them up, in this order: a node's upstream in the round comes first. */
  | { type: 'resolve'; round: number; ids: string[] }
  /**
   * Execute the key once (lock → look up again when `lookAgain` → run → store → release), then report.
   * `attempt` counts from 1; a retry carries the last attempt's checkpoint (`resume`) and log (`logs`).
   */
  | {
      type: 'execute';
      id: string;
      key: CacheKey;
      components: KeyComponents;
      lookAgain: boolean;
      attempt: number;
      resume?: unknown;
      logs?: Digest;
      upstream: Record<string, Outputs>;
      upstreamKeys: Record<string, CacheKey>;
      /** For a step that asked for it: every node upstream of it, as this run knows them. */
      lineage?: Lineage;
      /** What this run's earlier attempts consumed: the entry keeps what producing the result cost in all. */
      spentBefore?: Usage;
    }
  /** Execute these elements of a map (each once across processes, as `execute` does a key), then report them. */
  | {
      type: 'execute-elements';
      id: string;
      key: CacheKey;
      components: KeyComponents;
      lookAgain: boolean;
      indices: number[];
      /** Each one's attempt number, in the same order; absent when all are first attempts. */
      attempts?: number[];
      /** How many of them may execute at once: the concurrency slots this chunk holds until it is reported. */
      parallel: number;
      upstream: Record<string, Outputs>;
      upstreamKeys: Record<string, CacheKey>;
    }
  /** Store a map's collection from its elements' results, leaving out `leftOut`; the whole map's entry only when none is left out. */
  | {
      type: 'assemble';
      id: string;
      key: CacheKey;
      components: KeyComponents;
      leftOut: number[];
      durationMs: number;
      upstream: Record<string, Outputs>;
    }
  /** Store these finished step records now (a killed run's record must show them); answer `saved`. */
  | { type: 'save'; steps: StepRunRecord[] }
  /** Every step is settled: write the final record from the header, the pipeline's `nodes` in order, those not yet saved in `steps`. */
  | { type: 'finish'; header: RunHeader; nodes: Array<{ id: string; step: string; upstream: string[] }>; steps: StepRunRecord[] }
  | { type: 'notify'; event: RunEvent }
  /** Feed `tick` after this long: a retry is waiting for its turn. */
  | { type: 'wait'; delayMs: number };

/** One kind of command, as it travels to whoever carries it out (a Temporal activity's input carries it whole). */
export type CommandOf<T extends CoreCommand['type']> = Extract<CoreCommand, { type: T }>;

/** What a continued run (Temporal's continue-as-new) carries over: settled statuses and what later steps still read. */
export interface CoreSnapshot {
  statuses: Record<string, StepStatus>;
  outputs: Record<string, Outputs>;
  keys: Record<string, CacheKey>;
  /** Maps still running: what this run executed and what failed (index ranges), so the next generation neither retries nor miscounts them. */
  maps?: Record<string, MapProgress>;
  /** Steps between attempts: how many were made, and what the next one resumes from. */
  retrying?: Record<string, { attempts: number; resume?: unknown; logs?: Digest; spent?: Usage }>;
}

export interface MapProgress {
  executed: string;
  failed: string;
  failures: Array<{ index: number; code: string; message: string; logs?: Digest; attempts?: number }>;
  /** Attempts made so far → the elements (ranges) that made that many: retries go on counting from there. */
  attempts?: Record<string, string>;
  /** The first element that failed for what it ran on (see MapWork.failedByInfrastructure): the map still may not leave it out. */
  unavailable?: { index: number; error: StepError };
  /** What the elements' executions consumed so far, and what those that succeeded produced (cached when the run goes on). */
  spent?: Usage;
  produced?: Usage;
}

/** A step's state right now, for live views. */
export interface StepProgress {
  id: string;
  status: StepStatus;
  reason: string;
  /** A settled step that decided not to act (`ctx.decline`). */
  declined?: string;
  fraction?: number;
  message?: string;
}

export type Decision = 'cached' | 'run' | 'pending';

export interface PlannedStep {
  id: string;
  step: string;
  decision: Decision;
  reasonCodes: ReasonCode[];
  reason: string;
  /** Known for cached and run steps; a pending step's key depends on outputs not yet produced. */
  cacheKey?: CacheKey;
  components?: KeyComponents;
  /** For cached steps: the compute time the cache saves. */
  savedMs?: number;
  /** For cached steps (and a map's cached elements): what the results had cost, so what the cache saves. */
  saved?: Usage;
  /** For cached steps: something to warn about (the result was computed by other code, onCodeChange: 'warn'). */
  warning?: string;
  /** For cached steps: the result is of a step that declined to act (`ctx.decline`), and a run would say so again. */
  declined?: string;
  /** For a map that runs: its elements, how many are cached and which run (index ranges), and why. */
  elements?: PlannedElements;
}

/** A map's elements as its look-up found them: how many are cached, which run (index ranges) and why, which were kept with a warning. */
export interface PlannedElements {
  total: number;
  cached: number;
  run: string;
  reasons?: ElementReason[];
  kept?: ElementReason;
}

export interface Plan {
  pipeline: string;
  /** The run the reasons are relative to. */
  previousRunId: string | undefined;
  steps: PlannedStep[];
}
