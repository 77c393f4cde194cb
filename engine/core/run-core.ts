import type { Lineage, LineageStep } from '../define/define-step.js';
import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { ElementCounts, ReasonCode, StepRunRecord, StepStatus, Usage } from '../../cache/records.js';
import { addUsage, subtractUsage } from './usage.js';
import type { Progress } from '../define/define-step.js';
import { MapWork } from './map-work.js';
import { NO_RETRIES, retryDelay } from './retry-policy.js';
import type {
  CoreCommand,
  CoreEvent,
  CoreNode,
  CoreSnapshot,
  ElementResult,
  MapProgress,
  Outputs,
  PlannedElements,
  PlannedStep,
  Resolution,
  RunHeader,
  StepError,
  StepProgress,
} from './run-protocol.js';

/**
 * Where a node is in its life. `queued` misses wait for a concurrency slot; `sharing` ones wait for
 * another node of this run with the same key; `would-run` is a plan's miss (nothing executes in a plan).
 */
type Phase = 'waiting' | 'resolving' | 'queued' | 'executing' | 'retrying' | 'sharing' | 'settled' | 'would-run' | 'mapping' | 'assembling';

/** A running map's record is saved again at most this often, so a killed run's record shows the elements finished so far. */
const MAP_PROGRESS_SAVE_MS = 1000;

/** The core's record of one node: its phase, key, outputs and attempts (its "node state"; a slot is a place under concurrency). */
interface NodeState {
  readonly node: CoreNode;
  readonly index: number;
  readonly upstream: NodeState[];
  readonly downstream: NodeState[];
  /** Upstream nodes not yet executed or cached. */
  unmet: number;
  phase: Phase;
  status?: StepStatus;
  key?: CacheKey;
  components?: KeyComponents;
  miss?: { codes: ReasonCode[]; reason: string; lookAgain: boolean; warning?: string };
  outputs?: Outputs;
  startedAt?: number;
  /** Nodes of this run with the same key, waiting for this node's execution. */
  sharers: NodeState[];
  /** The settled record, until a save or the final record has taken it. */
  record?: StepRunRecord;
  /** For a settled hit: the run that computed its result (kept after the record is saved, for lineage). */
  computedBy?: string;
  progress: Progress | undefined;
  /** A map's elements, from its look-up on. */
  work?: MapWork;
  /** A plan's map: how many elements it has, are cached and would run, and why. */
  planned?: PlannedElements;
  /** A map's progress in an earlier generation of this run (Temporal's continue-as-new). */
  carried?: MapProgress;
  /** Attempts started (retries: see the node's retry policy). */
  attempt: number;
  /** Between attempts: when the next is due, how the last failed, its last checkpoint and its log so far. */
  retryAt?: number;
  lastError?: StepError;
  resume?: unknown;
  logs?: Digest;
  /** When a running map's record was last saved, and at how many tenths of its elements done. */
  savedAt?: number;
  savedTenths?: number;
  /** What this run's executions of the node consumed so far, failed attempts included. */
  spent?: Usage | undefined;
  /** A map's: what its elements executed by this run produced (their results' cost, failed attempts left out). */
  produced?: Usage | undefined;
  /** What the results it reused had cost: a hit's, a map's cached elements', a shared execution's. */
  saved?: Usage | undefined;
}

export interface RunCoreOptions {
  /** `plan` answers every miss with "would run" and never executes. */
  mode: 'run' | 'plan';
  /** The run record's header fields that do not change while it runs. */
  header: Omit<RunHeader, 'status' | 'finishedAt' | 'durationMs'>;
  /**
   * Milliseconds since the epoch. In a Temporal workflow this is the workflow task's time, which a replay
   * does not always reproduce (a worker taking a run over after a timed-out task has run its first
   * activation with an earlier time than the recorded history gives it): no decision that changes what
   * the driver is asked to do may hang on it.
   */
  now: () => number;
  /**
   * When a running map's record is saved again, so a killed run's record shows the elements finished so
   * far: at most once a second (default), or each time another tenth of its elements is done. Asked at each
   * decision. Temporal takes tenths: a command must depend on what the history holds, not on the clock.
   */
  mapProgressSaves?: () => 'every-second' | 'every-tenth';
  /**
   * A map element that failed for what it ran on (ErrorClass.infrastructure: the store, the disk, a lost
   * worker) fails the map with that error (default), so the run's result is the one a clean run gives and a
   * re-run completes it; `leave-out` treats it as any failed element, as runs begun before did on Temporal.
   */
  mapInfrastructureFailures?: 'fail-map' | 'leave-out';
  /** Most steps executing at once; look-ups and steps sharing another's execution take no slot. Default 4. */
  concurrency?: number;
  /** Most look-up rounds in flight (Temporal: 1, so look-ups gather into few activities). Default: no limit. */
  maxResolving?: number;
  /** Most nodes in one look-up round (Temporal: keeps each activity's payload small). Default: no limit. */
  maxRoundSize?: number;
  /**
   * Put below the frontier, in the same round, every node whose upstream are in it, so a chain of hits
   * resolves in one round trip (Temporal, where each round is an activity). In-process drivers resolve
   * each node as its upstream settle and need no look-ahead: nodes below a miss would only come back.
   */
  lookAhead?: boolean;
  /**
   * A map's chunks: most elements in one `execute-elements` command and most of them executing at
   * once (Temporal: a chunk per activity). A chunk holds that many concurrency slots, so `concurrency`
   * bounds the elements executing at once on every executor. Default one element per command.
   */
  elementChunk?: (id: string) => { size: number; parallel: number };
  /**
   * Save a `running` record as each step starts, so views that read the store (`flywheel ui`, `show`)
   * see what runs now. The local executor does; on Temporal the workflow's progress query says it
   * without an activity per start.
   */
  recordRunning?: boolean;
  /** In a plan, a pending step's own changes (config, version, interface) relative to the last run. */
  ownChanges?: (id: string) => string | undefined;
  /** State carried over from an earlier generation of this run. */
  restore?: CoreSnapshot;
}

/** A step record being built; components are left out when the key was never made. */
type Draft = Omit<StepRunRecord, 'components'> & { components?: KeyComponents | undefined };

function withoutComponents(draft: Draft): StepRunRecord {
  const { components: _absent, ...record } = draft;
  return record;
}

/** The answer to most events: nothing to do. Shared, so handling an event allocates nothing. */
const NOTHING: CoreCommand[] = [];

const isDone = (state: NodeState): boolean => state.status === 'executed' || state.status === 'cached';
const isBlocking = (state: NodeState): boolean => state.status === 'failed' || state.status === 'skipped';

/**
 * The run core: one pure state machine that decides what a run does, for every executor. Drivers feed it
 * events (a key resolved, a step executed or failed, a save done, cancel) and carry out the commands it
 * returns (resolve these keys, execute this one, save these records, finish). It hands out ready steps,
 * shares one execution between nodes of the run with the same key, skips what lies below a failure,
 * cancels, and builds every step record, reason and the run record. No I/O and no Node built-ins: the
 * local executor, the Temporal workflow and the planner all drive this same code.
 *
 * @example
 * ```ts
 * const core = new RunCore(nodes, { mode: 'run', header, now: Date.now });
 * let commands = core.start();
 * // for each command: do it, then commands = core.handle(<the event it produced>)
 * ```
 */
export class RunCore {
  private readonly states: NodeState[];
  private readonly byId = new Map<string, NodeState>();
  /** Waiting nodes whose upstream are all executed or cached: where the next look-up round starts. */
  private readonly frontier = new Set<NodeState>();
  private readonly queue: NodeState[] = [];
  /** Maps with elements left to hand out, in the order they started. */
  private readonly mapping: NodeState[] = [];
  /** The node executing (or queued to execute) each key in this run. */
  private readonly keyOwners = new Map<CacheKey, NodeState>();
  /** The earliest `wait` handed out and not yet over: a later retry needs no other. */
  private wakeAt: number | undefined;
  private readonly concurrency: number;
  private readonly maxResolving: number;
  private readonly maxRoundSize: number;
  private unsaved: NodeState[] = [];
  /** Some unsaved record is of work done (executed, failed, skipped), not a cache hit. */
  private unsavedWork = false;
  private saving: NodeState[] | undefined;
  /** A save failed: the next is tried when another step settles (or the run drains or finishes), not at once. */
  private holdSaves = false;
  private executing = 0;
  /** Look-up rounds in flight, by number. */
  private readonly rounds = new Map<number, NodeState[]>();
  private nextRound = 0;
  private settledCount = 0;
  private started = false;
  private cancelled = false;
  private draining = false;
  private finished = false;
  private out: CoreCommand[] = [];

  constructor(
    nodes: readonly CoreNode[],
    private readonly options: RunCoreOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxResolving = options.maxResolving ?? Number.POSITIVE_INFINITY;
    this.maxRoundSize = options.maxRoundSize ?? Number.POSITIVE_INFINITY;
    this.states = nodes.map((node, index) => ({
      node,
      index,
      upstream: [],
      downstream: [],
      unmet: 0,
      phase: 'waiting',
      sharers: [],
      progress: undefined,
      attempt: 0,
    }));
    for (const state of this.states) this.byId.set(state.node.id, state);
    for (const state of this.states) {
      for (const id of new Set(state.node.upstream)) {
        const up = this.byId.get(id);
        if (up === undefined) throw new Error(`internal: node ${state.node.id} waits for unknown node ${id}`);
        state.upstream.push(up);
        up.downstream.push(state);
      }
    }
    this.restore(options.restore);
    for (const state of this.states) {
      state.unmet = state.upstream.filter((u) => !isDone(u)).length;
      if (state.phase === 'waiting' && state.unmet === 0) this.frontier.add(state);
    }
  }

  /** The first commands of a run. */
  start(): CoreCommand[] {
    this.started = true;
    if (this.options.restore === undefined) {
      const { runId, pipeline, prices } = this.options.header;
      this.notify({
        type: 'run-started',
        runId,
        pipeline,
        steps: this.states.map((s) => s.node.id),
        ...(prices === undefined ? {} : { prices: prices.table }),
      });
    }
    if (this.cancelled) {
      this.cancelled = false;
      this.onCancel();
    }
    return this.flush();
  }

  /** Takes one event, returns the commands it leads to. */
  handle(event: CoreEvent): CoreCommand[] {
    switch (event.type) {
      case 'resolved':
        this.onResolved(event.resolution);
        break;
      case 'resolve-done':
        this.onRoundOver(event.round, undefined);
        break;
      case 'resolve-failed':
        this.onRoundOver(event.round, event.error);
        break;
      case 'waiting':
        if (this.byId.get(event.id)?.phase === 'executing') this.notify({ type: 'step-waiting', id: event.id, holder: event.holder });
        break;
      case 'progress': {
        const state = this.byId.get(event.id);
        if (state?.phase === 'executing') {
          state.progress = { ...state.progress, ...event.progress };
          this.notify({ type: 'step-progress', id: event.id, progress: event.progress });
        }
        break;
      }
      case 'executed':
        this.onExecuted(event);
        break;
      case 'failed':
        this.onFailed(event);
        break;
      case 'tick':
        this.onTick();
        break;
      case 'elements-done':
        this.onElementsDone(event.id, event.results, event.parallel);
        break;
      case 'assembled':
        this.onAssembled(event.id, event.outputs, event.keys);
        break;
      case 'saved':
        if (!event.ok && this.saving !== undefined) {
          this.unsaved = [...this.saving, ...this.unsaved];
          this.unsavedWork = true;
          this.holdSaves = !this.draining; // draining waits for the save: try again at once
        }
        this.saving = undefined;
        break;
      case 'drain':
        this.draining = true;
        this.holdSaves = false;
        break;
      case 'cancel':
        if (!this.started) {
          this.cancelled = true; // before the start: start() skips everything, after announcing the run
          return NOTHING;
        }
        this.onCancel();
        break;
    }
    return this.flush();
  }

  /** Nothing in flight and nothing left unsaved: after a `drain`, the moment to take a snapshot. */
  get idle(): boolean {
    return this.rounds.size === 0 && this.executing === 0 && this.saving === undefined && this.unsaved.length === 0;
  }

  /** True once `finish` was handed out (in a plan: once every step is decided). */
  get done(): boolean {
    return this.finished;
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Outputs of an executed or cached node. */
  outputsOf(id: string): Outputs | undefined {
    return this.byId.get(id)?.outputs;
  }

  snapshot(): CoreSnapshot {
    const snapshot: CoreSnapshot = { statuses: {}, outputs: {}, keys: {} };
    for (const state of this.states) {
      if (state.work !== undefined && state.phase === 'mapping') {
        const { spent, produced } = state;
        (snapshot.maps ??= {})[state.node.id] = {
          ...state.work.snapshot(),
          ...(spent === undefined ? {} : { spent }),
          ...(produced === undefined ? {} : { produced }),
        };
      }
      // Between attempts: waiting for its turn, or queued for it (a drain starts nothing new).
      if ((state.phase === 'retrying' || state.phase === 'queued') && state.attempt > 0) {
        const { resume, logs, spent } = state;
        (snapshot.retrying ??= {})[state.node.id] = {
          attempts: state.attempt,
          ...(resume === undefined ? {} : { resume }),
          ...(logs === undefined ? {} : { logs }),
          ...(spent === undefined ? {} : { spent }),
        };
      }
      if (state.phase !== 'settled' || state.status === undefined) continue;
      snapshot.statuses[state.node.id] = state.status;
      if (!state.downstream.some((d) => d.phase !== 'settled')) continue;
      if (state.outputs !== undefined) snapshot.outputs[state.node.id] = state.outputs;
      if (state.key !== undefined) snapshot.keys[state.node.id] = state.key;
    }
    return snapshot;
  }

  progress(): StepProgress[] {
    return this.states.map((state) => {
      const running = ['executing', 'retrying', 'sharing', 'mapping', 'assembling'].includes(state.phase);
      const status: StepStatus = state.status ?? (running ? 'running' : 'pending');
      const reason = state.record?.reason ?? state.miss?.reason ?? (state.phase === 'resolving' ? 'looking up the cache' : '');
      return {
        id: state.node.id,
        status,
        reason,
        ...(state.record?.declined === undefined ? {} : { declined: state.record.declined }),
        ...(running && state.progress?.fraction !== undefined ? { fraction: state.progress.fraction } : {}),
        ...(running && state.progress?.message !== undefined ? { message: state.progress.message } : {}),
      };
    });
  }

  /** A plan's answer, once `done`: every step cached, to run, or pending on an upstream that runs. */
  plan(): PlannedStep[] {
    return this.states.map((state): PlannedStep => {
      const planned: PlannedStep = { id: state.node.id, step: state.node.step, decision: 'pending', reasonCodes: ['upstream-pending'], reason: '' };
      const record = state.record;
      if (state.status === 'cached' && record !== undefined) {
        planned.decision = 'cached';
        planned.reasonCodes = record.reasonCodes;
        planned.reason = record.reason;
        if (record.cacheKey !== undefined) planned.cacheKey = record.cacheKey;
        if (record.components !== undefined) planned.components = record.components;
        if (record.savedMs !== undefined) planned.savedMs = record.savedMs;
        if (record.saved !== undefined) planned.saved = record.saved;
        if (record.warning !== undefined) planned.warning = record.warning;
        if (record.declined !== undefined) planned.declined = record.declined;
      } else if (state.phase === 'would-run' && state.miss !== undefined && state.key !== undefined && state.components !== undefined) {
        planned.decision = 'run';
        planned.reasonCodes = state.miss.codes;
        planned.reason = state.miss.reason;
        planned.cacheKey = state.key;
        planned.components = state.components;
        if (state.planned !== undefined) planned.elements = state.planned;
        if (state.saved !== undefined) planned.saved = state.saved;
        if (state.miss.warning !== undefined) planned.warning = state.miss.warning;
      } else {
        const waitingFor = state.upstream.filter((u) => u.status !== 'cached').map((u) => u.node.id);
        const own = this.options.ownChanges?.(state.node.id);
        planned.reason = `key known only after upstream ${waitingFor.join(', ')} run${waitingFor.length === 1 ? 's' : ''}${own === undefined ? '' : `; its own ${own}`}`;
      }
      return planned;
    });
  }

  // ---- events ----

  private onResolved(resolution: Resolution): void {
    const state = this.byId.get(resolution.id);
    if (state?.phase !== 'resolving') return;
    if (resolution.kind === 'error') {
      this.settle(state, {
        id: state.node.id,
        step: state.node.step,
        status: 'failed',
        reasonCodes: [],
        reason: 'cache look-up failed',
        outputs: {},
        error: resolution.error,
      });
      return;
    }
    state.key = resolution.key;
    state.components = resolution.components;
    if (resolution.kind === 'hit') {
      const { elements } = resolution;
      state.saved = resolution.usage;
      this.settle(state, {
        id: state.node.id,
        step: state.node.step,
        status: 'cached',
        cacheKey: resolution.key,
        reasonCodes: ['cache-hit'],
        reason: `cache hit (computed by run ${resolution.computedBy}${resolution.layer === undefined ? '' : `, read from ${resolution.layer}`})${elements === undefined ? '' : `: ${elements.total.toLocaleString('en-US')} elements`}`,
        computedBy: resolution.computedBy,
        ...(resolution.layer === undefined ? {} : { layer: resolution.layer }),
        components: resolution.components,
        outputs: resolution.outputs,
        durationMs: 0,
        savedMs: resolution.savedMs,
        ...(resolution.warning === undefined ? {} : { warning: resolution.warning }),
        ...(resolution.declined === undefined ? {} : { declined: resolution.declined }),
        ...(elements === undefined ? {} : { elements: this.wholeHitCounts(state, elements) }),
      });
      return;
    }
    const lookAgain = !resolution.codes.includes('forced') && !resolution.codes.includes('cache-disabled');
    const warning = resolution.kind === 'map' ? resolution.warning : undefined;
    // Elements an earlier generation of this run executed are cached now: what they cost was spent, not saved.
    if (resolution.kind === 'map') state.saved = subtractUsage(resolution.saved, state.carried?.produced);
    state.miss = { codes: resolution.codes, reason: resolution.reason, lookAgain, ...(warning === undefined ? {} : { warning }) };
    if (this.options.mode === 'plan') {
      state.phase = 'would-run';
      if (resolution.kind === 'map') {
        const { keys: _keys, ...planned } = resolution.elements;
        state.planned = planned;
      }
      return;
    }
    if (this.cancelled) {
      this.skip(state, 'cancelled', 'run cancelled');
      return;
    }
    const owner = this.keyOwners.get(resolution.key);
    if (owner !== undefined) {
      // Two nodes of this run with one key: the second waits for the first's execution.
      state.phase = 'sharing';
      state.startedAt = this.options.now();
      owner.sharers.push(state);
      this.notify({ type: 'step-running', id: state.node.id, reason: resolution.reason });
      return;
    }
    this.keyOwners.set(resolution.key, state);
    if (resolution.kind === 'map') {
      this.startMap(state, resolution.elements);
      return;
    }
    state.phase = 'queued';
    this.queue.push(state);
  }

  /** A map starts at once (its look-up found what to run); its elements take slots as they are handed out. */
  private startMap(state: NodeState, elements: Extract<Resolution, { kind: 'map' }>['elements']): void {
    state.phase = 'mapping';
    state.startedAt = this.options.now();
    state.work = new MapWork(elements, state.carried);
    this.notify({ type: 'step-running', id: state.node.id, reason: state.miss?.reason ?? '' });
    if (elements.keys !== undefined || this.options.recordRunning === true) this.saveRunning(state, this.counts(state));
    if (state.work.hasPending) this.mapping.push(state);
    else this.completeMap(state);
  }

  /**
   * A step's `running` record, saved at once. A map's names the list of its elements' keys, so
   * `cache gc` keeps what a run in progress (or a killed one) has computed, however long the map takes.
   */
  private saveRunning(state: NodeState, elements: ElementCounts | undefined): void {
    if (state.key === undefined || state.miss === undefined) return;
    state.record = {
      id: state.node.id,
      step: state.node.step,
      status: 'running',
      cacheKey: state.key,
      reasonCodes: state.miss.codes,
      reason: state.miss.reason,
      ...(state.components === undefined ? {} : { components: state.components }),
      outputs: {},
      startedAt: this.iso(state.startedAt ?? this.options.now()),
      ...(elements === undefined ? {} : { elements }),
      ...(state.miss.warning === undefined ? {} : { warning: state.miss.warning }),
      upstream: [...state.node.upstream],
    };
    state.savedAt = this.options.now();
    if (!this.unsaved.includes(state)) this.unsaved.push(state);
    this.unsavedWork = true;
  }

  private onElementsDone(id: string, results: readonly ElementResult[], parallel: number): void {
    const state = this.byId.get(id);
    const work = state?.work;
    if (state?.phase !== 'mapping' || work === undefined) return;
    this.executing -= parallel;
    for (const result of results) {
      if (result.status === 'cached') state.saved = addUsage(state.saved, result.usage);
      else state.spent = addUsage(state.spent, result.usage);
      if (result.status === 'executed') state.produced = addUsage(state.produced, result.usage);
    }
    const now = this.options.now();
    const retryAt = work.report(results, state.node.retry ?? NO_RETRIES, id, now, !this.cancelled);
    if (retryAt !== undefined) this.wakeBy(retryAt);
    state.progress = work.progress();
    this.notify({ type: 'step-progress', id, progress: state.progress });
    // A killed run's record shows the elements finished so far.
    if (!work.done && this.progressToSave(state, now)) this.saveRunning(state, this.counts(state));
    this.completeMap(state);
  }

  /** Whether a running map has progressed enough since its record was last saved to save it again. */
  private progressToSave(state: NodeState, now: number): boolean {
    if (this.options.mapProgressSaves?.() !== 'every-tenth') return now - (state.savedAt ?? 0) >= MAP_PROGRESS_SAVE_MS;
    const tenths = Math.floor((state.progress?.fraction ?? 0) * 10);
    if (tenths <= (state.savedTenths ?? 0)) return false;
    state.savedTenths = tenths;
    return true;
  }

  /** Once every element has ended: too many failures fail the map; otherwise its collection is assembled. */
  private completeMap(state: NodeState): void {
    const work = state.work;
    if (work === undefined || !work.done) return;
    const upstream = this.upstreamOf(state);
    if (this.cancelled) return this.failWithSharers(state, { code: 'STEP_CANCELLED', message: 'run cancelled while the map ran' }, undefined);
    const unavailable = this.options.mapInfrastructureFailures === 'leave-out' ? undefined : work.failedByInfrastructure;
    if (unavailable !== undefined) {
      const { index, error } = unavailable;
      const message = `element ${index} could not run: ${error.message} (not the element's own failure, so it is not left out; running again runs only what is missing)`;
      return this.failWithSharers(state, { code: error.code, message }, undefined);
    }
    const ratio = state.node.map?.minSuccessRatio ?? 1;
    const succeeded = work.total - work.failedCount;
    if (work.total > 0 && succeeded / work.total < ratio) {
      const first = work
        .firstFailures(3)
        .map((f) => `element ${f.index}: ${f.code} ${f.message}`)
        .join('; ');
      // Less a hair, so 0.07 × 100 needs 7, not the 8 floating point would make it.
      const needed = Math.ceil(ratio * work.total - 1e-9);
      const message = `${work.failedCount} of ${work.total} elements failed; minSuccessRatio ${ratio} needs ${needed} to succeed (${first})`;
      return this.failWithSharers(state, { code: 'MAP_ELEMENTS_FAILED', message }, undefined);
    }
    if (state.key === undefined || state.components === undefined) return;
    state.phase = 'assembling';
    this.executing++;
    const now = this.options.now();
    this.out.push({
      type: 'assemble',
      id: state.node.id,
      key: state.key,
      components: state.components,
      leftOut: work.leftOut(),
      durationMs: now - (state.startedAt ?? now),
      upstream: upstream.outputs,
    });
  }

  private onAssembled(id: string, outputs: Outputs, keys: Digest): void {
    const state = this.byId.get(id);
    if (state?.phase !== 'assembling' || state.key === undefined || state.miss === undefined) return;
    this.executing--;
    const now = this.options.now();
    const durationMs = now - (state.startedAt ?? now);
    this.settle(state, {
      id: state.node.id,
      step: state.node.step,
      status: 'executed',
      cacheKey: state.key,
      reasonCodes: state.miss.codes,
      reason: state.miss.reason,
      components: state.components,
      outputs,
      durationMs,
      startedAt: this.iso(state.startedAt ?? now),
      elements: this.counts(state, keys),
      ...(state.miss.warning === undefined ? {} : { warning: state.miss.warning }),
    });
    this.settleSharers(state, outputs, this.options.header.runId, durationMs, addUsage(state.produced, state.saved));
  }

  /** The nodes of this run that waited for the state's execution get its outputs (and its decision not to act), as cached. */
  private settleSharers(state: NodeState, outputs: Outputs, computedBy: string, savedMs: number, usage: Usage | undefined, declined?: string): void {
    const now = this.options.now();
    for (const sharer of state.sharers.splice(0)) {
      sharer.saved = usage;
      this.settle(sharer, {
        id: sharer.node.id,
        step: sharer.node.step,
        status: 'cached',
        cacheKey: state.key,
        reasonCodes: ['shared-execution'],
        reason:
          computedBy === this.options.header.runId
            ? 'computed once by another step of this run while this step waited'
            : `computed once by run ${computedBy} while this step waited`,
        components: sharer.components,
        outputs,
        durationMs: now - (sharer.startedAt ?? now),
        savedMs,
        computedBy,
        ...(declined === undefined ? {} : { declined }),
      });
    }
  }

  /** A running or finished map's element counts for its record (`keys`: the list its assembly stored). */
  private counts(state: NodeState, keys?: Digest): ElementCounts {
    return state.work?.counts(state.node.map?.batchSize ?? 1, keys) ?? this.wholeHitCounts(state, { total: 0 });
  }

  /** A map that came from the cache whole: every element cached. */
  private wholeHitCounts(state: NodeState, elements: { total: number; keys?: Digest }): ElementCounts {
    const batchSize = state.node.map?.batchSize ?? 1;
    const { total, keys } = elements;
    return { total, executed: 0, cached: total, failed: 0, ...(batchSize > 1 ? { batchSize } : {}), ...(keys === undefined ? {} : { keys }) };
  }

  private onRoundOver(round: number, error: StepError | undefined): void {
    const states = this.rounds.get(round);
    if (states === undefined) return;
    this.rounds.delete(round);
    for (const state of states) {
      if (state.phase !== 'resolving') continue;
      if (error !== undefined) {
        this.settle(state, { id: state.node.id, step: state.node.step, status: 'failed', reasonCodes: [], reason: 'cache look-up failed', outputs: {}, error });
        continue;
      }
      // Not resolved: an upstream in the round missed (or failed). It waits again.
      state.phase = 'waiting';
      if (state.upstream.some(isBlocking)) this.skipBlocked(state);
      else if (state.unmet === 0) this.frontier.add(state);
    }
  }

  private onExecuted(event: Extract<CoreEvent, { type: 'executed' }>): void {
    const state = this.byId.get(event.id);
    if (state?.phase !== 'executing' || state.key === undefined || state.miss === undefined) return;
    this.executing--;
    this.keyOwners.delete(state.key);
    const own = event.computedBy === this.options.header.runId;
    // The result's cost: this run's attempts (the earlier ones included), or what the run that computed it recorded.
    if (own) state.spent = addUsage(state.spent, event.usage);
    else state.saved = event.usage;
    const now = this.options.now();
    const ran = {
      cacheKey: state.key,
      components: state.components,
      outputs: event.outputs,
      durationMs: now - (state.startedAt ?? now),
      ...(event.declined === undefined ? {} : { declined: event.declined }),
    };
    if (own) {
      this.settle(state, {
        id: state.node.id,
        step: state.node.step,
        status: 'executed',
        reasonCodes: state.miss.codes,
        reason: state.miss.reason,
        ...ran,
        startedAt: this.iso(state.startedAt ?? now),
        attempts: state.attempt,
        ...(event.logs === undefined ? {} : { logs: event.logs }),
      });
    } else {
      this.settle(state, {
        id: state.node.id,
        step: state.node.step,
        status: 'cached',
        reasonCodes: ['shared-execution'],
        reason: `computed once by run ${event.computedBy} while this step waited`,
        computedBy: event.computedBy,
        ...ran,
        savedMs: event.durationMs,
      });
    }
    this.settleSharers(state, event.outputs, event.computedBy, event.durationMs, own ? state.spent : event.usage, event.declined);
  }

  private onFailed(event: Extract<CoreEvent, { type: 'failed' }>): void {
    const state = this.byId.get(event.id);
    if ((state?.phase !== 'executing' && state?.phase !== 'assembling') || state.key === undefined) return;
    this.executing--;
    state.spent = addUsage(state.spent, event.usage);
    const delay =
      state.phase === 'executing' && !this.cancelled
        ? retryDelay(state.node.retry ?? NO_RETRIES, state.attempt, { code: event.error.code, retryable: event.retryable }, state.node.id)
        : undefined;
    if (delay === undefined) return this.failWithSharers(state, event.error, state.attempt, event.logs);
    // The step's policy tries it again: its sharers go on waiting, the next attempt resumes from the last checkpoint.
    const now = this.options.now();
    state.phase = 'retrying';
    state.retryAt = now + delay;
    state.lastError = event.error;
    state.resume = event.resume ?? state.progress?.details ?? state.resume;
    if (event.logs !== undefined) state.logs = event.logs;
    state.progress = { message: `attempt ${state.attempt} failed (${event.error.code}); trying again` };
    this.notify({ type: 'step-retrying', id: state.node.id, attempt: state.attempt, delayMs: delay, error: event.error });
    this.wakeBy(state.retryAt);
  }

  /** Asks the driver for a `tick` by `at`, unless one already comes sooner. */
  private wakeBy(at: number): void {
    if (this.wakeAt !== undefined && this.wakeAt <= at) return;
    this.wakeAt = at;
    this.out.push({ type: 'wait', delayMs: Math.max(0, at - this.options.now()) });
  }

  /** Retries that are due take their turn: a step queues for a slot again, an element goes back to its map's hand-out. */
  private onTick(): void {
    const now = this.options.now();
    this.wakeAt = undefined;
    let next: number | undefined;
    for (const state of this.states) {
      if (state.phase === 'retrying' && state.retryAt !== undefined) {
        if (state.retryAt > now) next = Math.min(next ?? Infinity, state.retryAt);
        else {
          state.phase = 'queued';
          delete state.retryAt;
          this.queue.unshift(state);
        }
      }
      if (state.phase === 'mapping' && state.work !== undefined) {
        if (state.work.due(now) && !this.mapping.includes(state)) this.mapping.push(state);
        const at = state.work.nextRetryAt();
        if (at !== undefined) next = Math.min(next ?? Infinity, at);
      }
    }
    if (next !== undefined) this.wakeBy(next);
  }

  /** The step fails, and so do the nodes of this run waiting to share its execution. */
  private failWithSharers(state: NodeState, error: StepError, attempts: number | undefined, logs?: Digest): void {
    if (state.key === undefined) return;
    this.keyOwners.delete(state.key);
    for (const failed of [state, ...state.sharers.splice(0)]) {
      const now = this.options.now();
      this.settle(failed, {
        id: failed.node.id,
        step: failed.node.step,
        status: 'failed',
        cacheKey: state.key,
        reasonCodes: failed.miss?.codes ?? [],
        reason: failed.miss?.reason ?? '',
        components: failed.components,
        outputs: {},
        startedAt: this.iso(failed.startedAt ?? now),
        durationMs: now - (failed.startedAt ?? now),
        error,
        ...(attempts !== undefined && attempts > 0 && failed === state ? { attempts } : {}),
        ...(logs !== undefined && failed === state ? { logs } : {}),
        ...(failed === state && state.work !== undefined ? { elements: this.counts(state) } : {}),
      });
    }
  }

  /** Nothing new starts; what is executing is stopped by the driver and reported as failed. */
  private onCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const state of this.states) {
      // A step between attempts ends with its last failure; one queued for a retry had attempts too.
      if ((state.phase === 'retrying' || state.phase === 'queued') && state.lastError !== undefined)
        this.failWithSharers(state, state.lastError, state.attempt, state.logs);
      else if (state.phase === 'waiting' || state.phase === 'queued') this.skip(state, 'cancelled', 'run cancelled');
    }
    this.queue.length = 0;
    // A map stops handing out elements; it fails once those in flight are reported.
    for (const state of this.states) {
      if (state.phase !== 'mapping' || state.work === undefined) continue;
      state.work.stop();
      this.completeMap(state);
    }
    this.mapping.length = 0;
  }

  // ---- settling ----

  private iso(ms: number): string {
    return new Date(ms).toISOString();
  }

  private settle(state: NodeState, draft: Draft): void {
    if (state.phase === 'settled') return;
    const { spent, saved } = state;
    const withDag = { ...draft, upstream: [...state.node.upstream], ...(spent === undefined ? {} : { spent }), ...(saved === undefined ? {} : { saved }) };
    const record = (withDag.components === undefined && 'components' in withDag ? withoutComponents(withDag) : withDag) as StepRunRecord;
    if (state.phase === 'queued') this.queue.splice(this.queue.indexOf(state), 1);
    if (state.key !== undefined && this.keyOwners.get(state.key) === state) this.keyOwners.delete(state.key);
    this.frontier.delete(state);
    state.phase = 'settled';
    state.status = record.status;
    state.record = record;
    if (record.status === 'cached' && record.computedBy !== undefined) state.computedBy = record.computedBy;
    state.progress = undefined;
    this.settledCount++;
    if (isDone(state)) state.outputs = record.outputs;
    if (this.options.mode === 'run') {
      // A plan neither saves nor reports as it goes: `plan()` is its answer.
      this.unsaved.push(state);
      if (record.status !== 'cached') this.unsavedWork = true;
      this.holdSaves = false;
      this.notify({ type: 'step-finished', step: record });
    }
    for (const down of state.downstream) {
      if (isDone(state)) {
        down.unmet--;
        if (down.unmet === 0 && down.phase === 'waiting') this.frontier.add(down);
      } else if (down.phase === 'waiting') {
        this.skipBlocked(down);
      }
    }
  }

  private skip(state: NodeState, code: 'cancelled' | 'upstream-failed', reason: string): void {
    this.settle(state, { id: state.node.id, step: state.node.step, status: 'skipped', reasonCodes: [code], reason, outputs: {} });
    // Nodes waiting to share its execution: it will not execute, so neither do they.
    for (const sharer of state.sharers.splice(0)) this.skip(sharer, code, reason);
  }

  private skipBlocked(state: NodeState): void {
    if (this.cancelled) return this.skip(state, 'cancelled', 'run cancelled');
    const blocked = state.upstream.filter(isBlocking).map((u) => u.node.id);
    this.skip(state, 'upstream-failed', `upstream ${blocked.join(', ')} did not succeed`);
  }

  private restore(snapshot: CoreSnapshot | undefined): void {
    if (snapshot === undefined) return;
    for (const state of this.states) {
      const status = snapshot.statuses[state.node.id];
      if (status === undefined) continue;
      state.phase = 'settled';
      state.status = status;
      this.settledCount++;
      const outputs = snapshot.outputs[state.node.id];
      const key = snapshot.keys[state.node.id];
      if (outputs !== undefined) state.outputs = outputs;
      if (key !== undefined) state.key = key;
    }
    for (const [id, progress] of Object.entries(snapshot.maps ?? {})) {
      const state = this.byId.get(id);
      if (state === undefined || state.phase === 'settled') continue;
      state.carried = progress;
      if (progress.spent !== undefined) state.spent = progress.spent;
      if (progress.produced !== undefined) state.produced = progress.produced;
    }
    // A step between attempts is looked up again, then tried with the attempt after those it made.
    for (const [id, { attempts, resume, logs, spent }] of Object.entries(snapshot.retrying ?? {})) {
      const state = this.byId.get(id);
      if (state === undefined || state.phase === 'settled') continue;
      state.attempt = attempts;
      if (spent !== undefined) state.spent = spent;
      if (resume !== undefined) state.resume = resume;
      if (logs !== undefined) state.logs = logs;
    }
  }

  // ---- handing out work ----

  private notify(event: Extract<CoreCommand, { type: 'notify' }>['event']): void {
    this.out.push({ type: 'notify', event });
  }

  /** After every event: start what may start, resolve what can be resolved, save, or finish. */
  private flush(): CoreCommand[] {
    if (!this.finished) {
      if (this.cancelled) {
        // Hits that arrive after a cancel still settle; what they unblock does not start.
        for (const state of [...this.frontier]) this.skip(state, 'cancelled', 'run cancelled');
      } else if (!this.draining) {
        while (this.executing < this.concurrency && (this.queue.length > 0 || this.mapping.length > 0)) {
          if (this.queue.length > 0) this.execute(this.queue.shift() as NodeState);
          else this.executeElements(this.mapping[0] as NodeState);
        }
        while (this.rounds.size < this.maxResolving && this.frontier.size > 0) this.resolveRound();
      }
      this.finishOrSave();
    }
    if (this.out.length === 0) return NOTHING;
    const out = this.out;
    this.out = [];
    return out;
  }

  private upstreamOf(state: NodeState): { outputs: Record<string, Outputs>; keys: Record<string, CacheKey> } {
    const outputs: Record<string, Outputs> = {};
    const keys: Record<string, CacheKey> = {};
    for (const up of state.upstream) {
      if (up.outputs !== undefined) outputs[up.node.id] = up.outputs;
      if (up.key !== undefined) keys[up.node.id] = up.key;
    }
    return { outputs, keys };
  }

  private execute(state: NodeState): void {
    if (state.key === undefined || state.miss === undefined || state.components === undefined) return;
    const retry = state.attempt > 0;
    state.phase = 'executing';
    state.startedAt ??= this.options.now();
    state.attempt++;
    state.progress = undefined;
    this.executing++;
    const upstream = this.upstreamOf(state);
    if (!retry) this.notify({ type: 'step-running', id: state.node.id, reason: state.miss.reason });
    if (this.options.recordRunning === true && !retry) this.saveRunning(state, undefined);
    const { resume, logs, spent } = state;
    this.out.push({
      type: 'execute',
      id: state.node.id,
      key: state.key,
      components: state.components,
      lookAgain: state.miss.lookAgain,
      attempt: state.attempt,
      ...(resume === undefined ? {} : { resume }),
      ...(logs === undefined ? {} : { logs }),
      upstream: upstream.outputs,
      upstreamKeys: upstream.keys,
      ...(state.node.lineage === true ? { lineage: this.lineageOf(state) } : {}),
      ...(spent === undefined ? {} : { spentBefore: spent }),
    });
  }

  /** The run, and every node upstream of this one, nearest first, with what the run knows of each (see Lineage). */
  private lineageOf(state: NodeState): Lineage {
    const seen = new Set<NodeState>();
    const queue = [...state.upstream];
    const steps: LineageStep[] = [];
    while (queue.length > 0) {
      const up = queue.shift() as NodeState;
      if (seen.has(up)) continue;
      seen.add(up);
      queue.push(...up.upstream);
      const components = up.components;
      steps.push({
        id: up.node.id,
        key: up.key ?? '',
        ...(components === undefined
          ? {}
          : { components: { step: components.step, version: components.version, config: components.config, inputs: components.inputs, env: components.env } }),
        ...(up.node.code === undefined ? {} : { code: up.node.code }),
        outputs: Object.fromEntries(Object.entries(up.outputs ?? {}).map(([name, output]) => [name, output.digest])),
        ...(up.computedBy === undefined ? {} : { computedBy: up.computedBy }),
      });
      const usage = addUsage(up.spent, up.saved);
      if (usage !== undefined) (steps[steps.length - 1] as LineageStep).usage = usage;
    }
    const { runId, pipeline, overrides, engine, startedAt, prices } = this.options.header;
    return { run: { runId, pipeline, overrides: [...overrides], engine, startedAt, ...(prices === undefined ? {} : { prices: prices.table }) }, steps };
  }

  /** Hands out the map's next chunk of elements; a map with none left leaves the hand-out list. */
  private executeElements(state: NodeState): void {
    const work = state.work;
    if (work === undefined || state.key === undefined || state.components === undefined || state.miss === undefined || !work.hasPending) {
      this.mapping.splice(this.mapping.indexOf(state), 1);
      return;
    }
    const chunk = this.options.elementChunk?.(state.node.id) ?? { size: 1, parallel: 1 };
    const parallel = Math.max(1, Math.min(chunk.parallel, chunk.size, this.concurrency - this.executing));
    const { indices, attempts } = work.take(chunk.size);
    if (!work.hasPending) this.mapping.splice(this.mapping.indexOf(state), 1);
    this.executing += parallel;
    const upstream = this.upstreamOf(state);
    this.out.push({
      type: 'execute-elements',
      id: state.node.id,
      key: state.key,
      components: state.components,
      lookAgain: state.miss.lookAgain,
      indices,
      ...(attempts.some((a) => a > 1) ? { attempts } : {}),
      parallel,
      upstream: upstream.outputs,
      upstreamKeys: upstream.keys,
    });
  }

  /**
   * One round: the frontier and, with `lookAhead`, following it down, every node whose upstream are all
   * done or in the round, so a chain of hits resolves in one go (nodes below a miss come back unresolved).
   */
  private resolveRound(): void {
    const picked = new Set<NodeState>();
    const visit = [...this.frontier].sort((a, b) => a.index - b.index);
    for (let i = 0; i < visit.length && picked.size < this.maxRoundSize; i++) {
      const state = visit[i] as NodeState;
      if (picked.has(state) || state.phase !== 'waiting') continue;
      if (!state.upstream.every((u) => isDone(u) || picked.has(u))) continue;
      picked.add(state);
      if (!this.options.lookAhead) continue;
      for (const down of state.downstream) if (down.phase === 'waiting' && !picked.has(down)) visit.push(down);
    }
    if (picked.size === 0) {
      for (const state of visit) this.frontier.delete(state); // stale entries only; never expected
      return;
    }
    const round = this.nextRound++;
    const states = [...picked].sort((a, b) => a.index - b.index);
    for (const state of states) {
      state.phase = 'resolving';
      this.frontier.delete(state);
    }
    this.rounds.set(round, states);
    this.out.push({ type: 'resolve', round, ids: states.map((s) => s.node.id) });
  }

  private finishOrSave(): void {
    const allSettled = this.settledCount === this.states.length;
    if (this.options.mode === 'plan') {
      // A plan is decided when nothing is being looked up and nothing more can be.
      if (this.rounds.size === 0 && this.frontier.size === 0) this.finished = true;
      return;
    }
    if (allSettled && this.saving === undefined && this.executing === 0 && this.rounds.size === 0) {
      this.finished = true;
      const now = this.options.now();
      const status = this.states.every(isDone) ? 'succeeded' : this.cancelled ? 'cancelled' : 'failed';
      const startedMs = Date.parse(this.options.header.startedAt);
      const header: RunHeader = { ...this.options.header, status, finishedAt: this.iso(now), durationMs: Math.max(0, now - startedMs) };
      const steps = this.takeUnsaved();
      this.out.push({ type: 'finish', header, nodes: this.states.map((s) => ({ id: s.node.id, step: s.node.step, upstream: [...s.node.upstream] })), steps });
      return;
    }
    // Saved at once while work is under way (a killed run's record must show what finished); a stretch
    // of cache hits with nothing executing waits for the next save or the final record, so a fully
    // cached run writes its record once.
    const urgent = this.executing > 0 || this.draining || this.unsavedWork;
    if (this.saving === undefined && this.unsaved.length > 0 && !this.holdSaves && urgent) {
      this.saving = this.unsaved;
      this.out.push({ type: 'save', steps: this.takeUnsaved() });
    }
  }

  private takeUnsaved(): StepRunRecord[] {
    const records = this.unsaved.flatMap((state) => (state.record === undefined ? [] : [state.record]));
    this.unsaved = [];
    this.unsavedWork = false;
    return records;
  }
}

/**
 * Hands events to the core one at a time and each resulting command to `carryOut`. An event raised
 * while a command is being carried out waits its turn, so a driver never re-enters the core.
 */
export function feeder(core: RunCore, carryOut: (command: CoreCommand) => void): (event: CoreEvent | 'start') => void {
  const pending: Array<CoreEvent | 'start'> = [];
  let busy = false;
  return (event) => {
    pending.push(event);
    if (busy) return;
    busy = true;
    try {
      for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
        for (const command of next === 'start' ? core.start() : core.handle(next)) carryOut(command);
      }
    } finally {
      busy = false;
    }
  };
}
