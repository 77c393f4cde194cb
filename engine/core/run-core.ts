import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { ElementCounts, ReasonCode, StepRunRecord, StepStatus } from '../../cache/records.js';
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

interface Slot {
  readonly node: CoreNode;
  readonly index: number;
  readonly upstream: Slot[];
  readonly downstream: Slot[];
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
  sharers: Slot[];
  /** The settled record, until a save or the final record has taken it. */
  record?: StepRunRecord;
  progress: Progress | undefined;
  /** A map's invocations, from its look-up on. */
  work?: MapWork;
  /** A plan's map: how many invocations it has, are cached and would run, and why. */
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
  /** When a running map's record was last saved. */
  savedAt?: number;
}

export interface RunCoreOptions {
  /** `plan` answers every miss with "would run" and never executes. */
  mode: 'run' | 'plan';
  /** The run record's header fields that do not change while it runs. */
  header: Omit<RunHeader, 'status' | 'finishedAt' | 'durationMs'>;
  /** Milliseconds since the epoch. In a Temporal workflow, Date.now() is replay-safe. */
  now: () => number;
  /** Most steps executing at once; look-ups and steps sharing another's execution take no slot. Default 4. */
  concurrency?: number;
  /** Most resolve batches in flight (Temporal: 1, so look-ups gather into few activities). Default: no limit. */
  maxResolving?: number;
  /** Most nodes in one resolve batch (Temporal: keeps each activity's payload small). Default: no limit. */
  maxBatch?: number;
  /**
   * Put below the frontier, in the same batch, every node whose upstream are in it, so a chain of hits
   * resolves in one round trip (Temporal, where each batch is an activity). In-process drivers resolve
   * each node as its upstream settle and need no look-ahead: nodes below a miss would only come back.
   */
  lookAhead?: boolean;
  /**
   * A map's chunks: most invocations in one `execute-elements` command and most of them executing at
   * once (Temporal: a chunk per activity). A chunk holds that many concurrency slots, so `concurrency`
   * bounds the elements executing at once on every executor. Default one invocation per command.
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

const isDone = (slot: Slot): boolean => slot.status === 'executed' || slot.status === 'cached';
const isBlocking = (slot: Slot): boolean => slot.status === 'failed' || slot.status === 'skipped';

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
  private readonly slots: Slot[];
  private readonly byId = new Map<string, Slot>();
  /** Waiting nodes whose upstream are all executed or cached: where the next resolve batch starts. */
  private readonly frontier = new Set<Slot>();
  private readonly queue: Slot[] = [];
  /** Maps with invocations left to hand out, in the order they started. */
  private readonly mapping: Slot[] = [];
  /** The node executing (or queued to execute) each key in this run. */
  private readonly keyOwners = new Map<CacheKey, Slot>();
  /** The earliest `wait` handed out and not yet over: a later retry needs no other. */
  private wakeAt: number | undefined;
  private readonly concurrency: number;
  private readonly maxResolving: number;
  private readonly maxBatch: number;
  private unsaved: Slot[] = [];
  /** Some unsaved record is of work done (executed, failed, skipped), not a cache hit. */
  private unsavedWork = false;
  private saving: Slot[] | undefined;
  /** A save failed: the next is tried when another step settles (or the run drains or finishes), not at once. */
  private holdSaves = false;
  private executing = 0;
  /** Resolve batches in flight, by number. */
  private readonly batches = new Map<number, Slot[]>();
  private nextBatch = 0;
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
    this.maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
    this.slots = nodes.map((node, index) => ({
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
    for (const slot of this.slots) this.byId.set(slot.node.id, slot);
    for (const slot of this.slots) {
      for (const id of new Set(slot.node.upstream)) {
        const up = this.byId.get(id);
        if (up === undefined) throw new Error(`internal: node ${slot.node.id} waits for unknown node ${id}`);
        slot.upstream.push(up);
        up.downstream.push(slot);
      }
    }
    this.restore(options.restore);
    for (const slot of this.slots) {
      slot.unmet = slot.upstream.filter((u) => !isDone(u)).length;
      if (slot.phase === 'waiting' && slot.unmet === 0) this.frontier.add(slot);
    }
  }

  /** The first commands of a run. */
  start(): CoreCommand[] {
    this.started = true;
    if (this.options.restore === undefined) {
      const { runId, pipeline } = this.options.header;
      this.notify({ type: 'run-started', runId, pipeline, steps: this.slots.map((s) => s.node.id) });
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
        this.onBatchOver(event.batch, undefined);
        break;
      case 'resolve-failed':
        this.onBatchOver(event.batch, event.error);
        break;
      case 'waiting':
        if (this.byId.get(event.id)?.phase === 'executing') this.notify({ type: 'step-waiting', id: event.id, holder: event.holder });
        break;
      case 'progress': {
        const slot = this.byId.get(event.id);
        if (slot?.phase === 'executing') {
          slot.progress = { ...slot.progress, ...event.progress };
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
    return this.batches.size === 0 && this.executing === 0 && this.saving === undefined && this.unsaved.length === 0;
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
    for (const slot of this.slots) {
      if (slot.work !== undefined && slot.phase === 'mapping') (snapshot.maps ??= {})[slot.node.id] = slot.work.snapshot();
      // Between attempts: waiting for its turn, or queued for it (a drain starts nothing new).
      if ((slot.phase === 'retrying' || slot.phase === 'queued') && slot.attempt > 0) {
        const { resume, logs } = slot;
        (snapshot.retrying ??= {})[slot.node.id] = {
          attempts: slot.attempt,
          ...(resume === undefined ? {} : { resume }),
          ...(logs === undefined ? {} : { logs }),
        };
      }
      if (slot.phase !== 'settled' || slot.status === undefined) continue;
      snapshot.statuses[slot.node.id] = slot.status;
      if (!slot.downstream.some((d) => d.phase !== 'settled')) continue;
      if (slot.outputs !== undefined) snapshot.outputs[slot.node.id] = slot.outputs;
      if (slot.key !== undefined) snapshot.keys[slot.node.id] = slot.key;
    }
    return snapshot;
  }

  progress(): StepProgress[] {
    return this.slots.map((slot) => {
      const running = ['executing', 'retrying', 'sharing', 'mapping', 'assembling'].includes(slot.phase);
      const status: StepStatus = slot.status ?? (running ? 'running' : 'pending');
      const reason = slot.record?.reason ?? slot.miss?.reason ?? (slot.phase === 'resolving' ? 'looking up the cache' : '');
      return {
        id: slot.node.id,
        status,
        reason,
        ...(running && slot.progress?.fraction !== undefined ? { fraction: slot.progress.fraction } : {}),
        ...(running && slot.progress?.message !== undefined ? { message: slot.progress.message } : {}),
      };
    });
  }

  /** A plan's answer, once `done`: every step cached, to run, or pending on an upstream that runs. */
  plan(): PlannedStep[] {
    return this.slots.map((slot): PlannedStep => {
      const planned: PlannedStep = { id: slot.node.id, step: slot.node.step, decision: 'pending', reasonCodes: ['upstream-pending'], reason: '' };
      const record = slot.record;
      if (slot.status === 'cached' && record !== undefined) {
        planned.decision = 'cached';
        planned.reasonCodes = record.reasonCodes;
        planned.reason = record.reason;
        if (record.cacheKey !== undefined) planned.cacheKey = record.cacheKey;
        if (record.components !== undefined) planned.components = record.components;
        if (record.savedMs !== undefined) planned.savedMs = record.savedMs;
        if (record.warning !== undefined) planned.warning = record.warning;
      } else if (slot.phase === 'would-run' && slot.miss !== undefined && slot.key !== undefined && slot.components !== undefined) {
        planned.decision = 'run';
        planned.reasonCodes = slot.miss.codes;
        planned.reason = slot.miss.reason;
        planned.cacheKey = slot.key;
        planned.components = slot.components;
        if (slot.planned !== undefined) planned.elements = slot.planned;
        if (slot.miss.warning !== undefined) planned.warning = slot.miss.warning;
      } else {
        const waitingFor = slot.upstream.filter((u) => u.status !== 'cached').map((u) => u.node.id);
        const own = this.options.ownChanges?.(slot.node.id);
        planned.reason = `key known only after upstream ${waitingFor.join(', ')} run${waitingFor.length === 1 ? 's' : ''}${own === undefined ? '' : `; its own ${own}`}`;
      }
      return planned;
    });
  }

  // ---- events ----

  private onResolved(resolution: Resolution): void {
    const slot = this.byId.get(resolution.id);
    if (slot?.phase !== 'resolving') return;
    if (resolution.kind === 'error') {
      this.settle(slot, {
        id: slot.node.id,
        step: slot.node.step,
        status: 'failed',
        reasonCodes: [],
        reason: 'cache look-up failed',
        outputs: {},
        error: resolution.error,
      });
      return;
    }
    slot.key = resolution.key;
    slot.components = resolution.components;
    if (resolution.kind === 'hit') {
      const { elements } = resolution;
      this.settle(slot, {
        id: slot.node.id,
        step: slot.node.step,
        status: 'cached',
        cacheKey: resolution.key,
        reasonCodes: ['cache-hit'],
        reason: `cache hit (computed by run ${resolution.computedBy})${elements === undefined ? '' : `: ${elements.total.toLocaleString('en-US')} elements`}`,
        computedBy: resolution.computedBy,
        components: resolution.components,
        outputs: resolution.outputs,
        durationMs: 0,
        savedMs: resolution.savedMs,
        ...(resolution.warning === undefined ? {} : { warning: resolution.warning }),
        ...(elements === undefined ? {} : { elements: this.wholeHitCounts(slot, elements) }),
      });
      return;
    }
    const lookAgain = !resolution.codes.includes('forced') && !resolution.codes.includes('cache-disabled');
    const warning = resolution.kind === 'map' ? resolution.warning : undefined;
    slot.miss = { codes: resolution.codes, reason: resolution.reason, lookAgain, ...(warning === undefined ? {} : { warning }) };
    if (this.options.mode === 'plan') {
      slot.phase = 'would-run';
      if (resolution.kind === 'map') {
        const { keys: _keys, ...planned } = resolution.elements;
        slot.planned = planned;
      }
      return;
    }
    if (this.cancelled) {
      this.skip(slot, 'cancelled', 'run cancelled');
      return;
    }
    const owner = this.keyOwners.get(resolution.key);
    if (owner !== undefined) {
      // Two nodes of this run with one key: the second waits for the first's execution.
      slot.phase = 'sharing';
      slot.startedAt = this.options.now();
      owner.sharers.push(slot);
      this.notify({ type: 'step-running', id: slot.node.id, reason: resolution.reason });
      return;
    }
    this.keyOwners.set(resolution.key, slot);
    if (resolution.kind === 'map') {
      this.startMap(slot, resolution.elements);
      return;
    }
    slot.phase = 'queued';
    this.queue.push(slot);
  }

  /** A map starts at once (its look-up found what to run); its invocations take slots as they are handed out. */
  private startMap(slot: Slot, elements: Extract<Resolution, { kind: 'map' }>['elements']): void {
    slot.phase = 'mapping';
    slot.startedAt = this.options.now();
    slot.work = new MapWork(elements, slot.carried);
    this.notify({ type: 'step-running', id: slot.node.id, reason: slot.miss?.reason ?? '' });
    if (elements.keys !== undefined || this.options.recordRunning === true) this.saveRunning(slot, this.counts(slot));
    if (slot.work.hasPending) this.mapping.push(slot);
    else this.completeMap(slot);
  }

  /**
   * A step's `running` record, saved at once. A map's names the list of its invocations' keys, so
   * `cache gc` keeps what a run in progress (or a killed one) has computed, however long the map takes.
   */
  private saveRunning(slot: Slot, elements: ElementCounts | undefined): void {
    if (slot.key === undefined || slot.miss === undefined) return;
    slot.record = {
      id: slot.node.id,
      step: slot.node.step,
      status: 'running',
      cacheKey: slot.key,
      reasonCodes: slot.miss.codes,
      reason: slot.miss.reason,
      ...(slot.components === undefined ? {} : { components: slot.components }),
      outputs: {},
      startedAt: this.iso(slot.startedAt ?? this.options.now()),
      ...(elements === undefined ? {} : { elements }),
      ...(slot.miss.warning === undefined ? {} : { warning: slot.miss.warning }),
      upstream: [...slot.node.upstream],
    };
    slot.savedAt = this.options.now();
    if (!this.unsaved.includes(slot)) this.unsaved.push(slot);
    this.unsavedWork = true;
  }

  private onElementsDone(id: string, results: readonly ElementResult[], parallel: number): void {
    const slot = this.byId.get(id);
    const work = slot?.work;
    if (slot?.phase !== 'mapping' || work === undefined) return;
    this.executing -= parallel;
    const now = this.options.now();
    const retryAt = work.report(results, slot.node.retry ?? NO_RETRIES, id, now, !this.cancelled);
    if (retryAt !== undefined) this.wakeBy(retryAt);
    slot.progress = work.progress((slot.node.map?.batchSize ?? 1) > 1 ? 'batches' : 'elements');
    this.notify({ type: 'step-progress', id, progress: slot.progress });
    // A killed run's record shows the elements finished so far.
    if (now - (slot.savedAt ?? 0) >= MAP_PROGRESS_SAVE_MS && !work.done) this.saveRunning(slot, this.counts(slot));
    this.completeMap(slot);
  }

  /** Once every invocation has ended: too many failures fail the map; otherwise its collection is assembled. */
  private completeMap(slot: Slot): void {
    const work = slot.work;
    if (work === undefined || !work.done) return;
    const upstream = this.upstreamOf(slot);
    if (this.cancelled) return this.failWithSharers(slot, { code: 'STEP_CANCELLED', message: 'run cancelled while the map ran' }, undefined);
    const ratio = slot.node.map?.minSuccessRatio ?? 1;
    const succeeded = work.total - work.failedCount;
    if (work.total > 0 && succeeded / work.total < ratio) {
      const first = work
        .firstFailures(3)
        .map((f) => `element ${f.index}: ${f.code} ${f.message}`)
        .join('; ');
      // Less a hair, so 0.07 × 100 needs 7, not the 8 floating point would make it.
      const needed = Math.ceil(ratio * work.total - 1e-9);
      const message = `${work.failedCount} of ${work.total} elements failed; minSuccessRatio ${ratio} needs ${needed} to succeed (${first})`;
      return this.failWithSharers(slot, { code: 'MAP_ELEMENTS_FAILED', message }, undefined);
    }
    if (slot.key === undefined || slot.components === undefined) return;
    slot.phase = 'assembling';
    this.executing++;
    const now = this.options.now();
    this.out.push({
      type: 'assemble',
      id: slot.node.id,
      key: slot.key,
      components: slot.components,
      leftOut: work.leftOut(),
      durationMs: now - (slot.startedAt ?? now),
      upstream: upstream.outputs,
    });
  }

  private onAssembled(id: string, outputs: Outputs, keys: Digest): void {
    const slot = this.byId.get(id);
    if (slot?.phase !== 'assembling' || slot.key === undefined || slot.miss === undefined) return;
    this.executing--;
    const now = this.options.now();
    const durationMs = now - (slot.startedAt ?? now);
    this.settle(slot, {
      id: slot.node.id,
      step: slot.node.step,
      status: 'executed',
      cacheKey: slot.key,
      reasonCodes: slot.miss.codes,
      reason: slot.miss.reason,
      components: slot.components,
      outputs,
      durationMs,
      startedAt: this.iso(slot.startedAt ?? now),
      elements: this.counts(slot, keys),
      ...(slot.miss.warning === undefined ? {} : { warning: slot.miss.warning }),
    });
    this.settleSharers(slot, outputs, this.options.header.runId, durationMs);
  }

  /** The nodes of this run that waited for the slot's execution get its outputs, as cached. */
  private settleSharers(slot: Slot, outputs: Outputs, computedBy: string, savedMs: number): void {
    const now = this.options.now();
    for (const sharer of slot.sharers.splice(0)) {
      this.settle(sharer, {
        id: sharer.node.id,
        step: sharer.node.step,
        status: 'cached',
        cacheKey: slot.key,
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
      });
    }
  }

  /** A running or finished map's element counts for its record (`keys`: the list its assembly stored). */
  private counts(slot: Slot, keys?: Digest): ElementCounts {
    return slot.work?.counts(slot.node.map?.batchSize ?? 1, keys) ?? this.wholeHitCounts(slot, { total: 0 });
  }

  /** A map that came from the cache whole: every element cached. */
  private wholeHitCounts(slot: Slot, elements: { total: number; keys?: Digest }): ElementCounts {
    const batchSize = slot.node.map?.batchSize ?? 1;
    const { total, keys } = elements;
    return { total, executed: 0, cached: total, failed: 0, ...(batchSize > 1 ? { batchSize } : {}), ...(keys === undefined ? {} : { keys }) };
  }

  private onBatchOver(batch: number, error: StepError | undefined): void {
    const slots = this.batches.get(batch);
    if (slots === undefined) return;
    this.batches.delete(batch);
    for (const slot of slots) {
      if (slot.phase !== 'resolving') continue;
      if (error !== undefined) {
        this.settle(slot, { id: slot.node.id, step: slot.node.step, status: 'failed', reasonCodes: [], reason: 'cache look-up failed', outputs: {}, error });
        continue;
      }
      // Not resolved: an upstream in the batch missed (or failed). It waits again.
      slot.phase = 'waiting';
      if (slot.upstream.some(isBlocking)) this.skipBlocked(slot);
      else if (slot.unmet === 0) this.frontier.add(slot);
    }
  }

  private onExecuted(event: Extract<CoreEvent, { type: 'executed' }>): void {
    const slot = this.byId.get(event.id);
    if (slot?.phase !== 'executing' || slot.key === undefined || slot.miss === undefined) return;
    this.executing--;
    this.keyOwners.delete(slot.key);
    const now = this.options.now();
    const ran = { cacheKey: slot.key, components: slot.components, outputs: event.outputs, durationMs: now - (slot.startedAt ?? now) };
    if (event.computedBy === this.options.header.runId) {
      this.settle(slot, {
        id: slot.node.id,
        step: slot.node.step,
        status: 'executed',
        reasonCodes: slot.miss.codes,
        reason: slot.miss.reason,
        ...ran,
        startedAt: this.iso(slot.startedAt ?? now),
        attempts: slot.attempt,
        ...(event.logs === undefined ? {} : { logs: event.logs }),
      });
    } else {
      this.settle(slot, {
        id: slot.node.id,
        step: slot.node.step,
        status: 'cached',
        reasonCodes: ['shared-execution'],
        reason: `computed once by run ${event.computedBy} while this step waited`,
        computedBy: event.computedBy,
        ...ran,
        savedMs: event.durationMs,
      });
    }
    this.settleSharers(slot, event.outputs, event.computedBy, event.durationMs);
  }

  private onFailed(event: Extract<CoreEvent, { type: 'failed' }>): void {
    const slot = this.byId.get(event.id);
    if ((slot?.phase !== 'executing' && slot?.phase !== 'assembling') || slot.key === undefined) return;
    this.executing--;
    const delay =
      slot.phase === 'executing' && !this.cancelled
        ? retryDelay(slot.node.retry ?? NO_RETRIES, slot.attempt, { code: event.error.code, retryable: event.retryable }, slot.node.id)
        : undefined;
    if (delay === undefined) return this.failWithSharers(slot, event.error, slot.attempt, event.logs);
    // The step's policy tries it again: its sharers go on waiting, the next attempt resumes from the last checkpoint.
    const now = this.options.now();
    slot.phase = 'retrying';
    slot.retryAt = now + delay;
    slot.lastError = event.error;
    slot.resume = event.resume ?? slot.progress?.details ?? slot.resume;
    if (event.logs !== undefined) slot.logs = event.logs;
    slot.progress = { message: `attempt ${slot.attempt} failed (${event.error.code}); trying again` };
    this.notify({ type: 'step-retrying', id: slot.node.id, attempt: slot.attempt, delayMs: delay, error: event.error });
    this.wakeBy(slot.retryAt);
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
    for (const slot of this.slots) {
      if (slot.phase === 'retrying' && slot.retryAt !== undefined) {
        if (slot.retryAt > now) next = Math.min(next ?? Infinity, slot.retryAt);
        else {
          slot.phase = 'queued';
          delete slot.retryAt;
          this.queue.unshift(slot);
        }
      }
      if (slot.phase === 'mapping' && slot.work !== undefined) {
        if (slot.work.due(now) && !this.mapping.includes(slot)) this.mapping.push(slot);
        const at = slot.work.nextRetryAt();
        if (at !== undefined) next = Math.min(next ?? Infinity, at);
      }
    }
    if (next !== undefined) this.wakeBy(next);
  }

  /** The step fails, and so do the nodes of this run waiting to share its execution. */
  private failWithSharers(slot: Slot, error: StepError, attempts: number | undefined, logs?: Digest): void {
    if (slot.key === undefined) return;
    this.keyOwners.delete(slot.key);
    for (const failed of [slot, ...slot.sharers.splice(0)]) {
      const now = this.options.now();
      this.settle(failed, {
        id: failed.node.id,
        step: failed.node.step,
        status: 'failed',
        cacheKey: slot.key,
        reasonCodes: failed.miss?.codes ?? [],
        reason: failed.miss?.reason ?? '',
        components: failed.components,
        outputs: {},
        startedAt: this.iso(failed.startedAt ?? now),
        durationMs: now - (failed.startedAt ?? now),
        error,
        ...(attempts !== undefined && attempts > 0 && failed === slot ? { attempts } : {}),
        ...(logs !== undefined && failed === slot ? { logs } : {}),
        ...(failed === slot && slot.work !== undefined ? { elements: this.counts(slot) } : {}),
      });
    }
  }

  /** Nothing new starts; what is executing is stopped by the driver and reported as failed. */
  private onCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const slot of this.slots) {
      // A step between attempts ends with its last failure; one queued for a retry had attempts too.
      if ((slot.phase === 'retrying' || slot.phase === 'queued') && slot.lastError !== undefined)
        this.failWithSharers(slot, slot.lastError, slot.attempt, slot.logs);
      else if (slot.phase === 'waiting' || slot.phase === 'queued') this.skip(slot, 'cancelled', 'run cancelled');
    }
    this.queue.length = 0;
    // A map stops handing out invocations; it fails once those in flight are reported.
    for (const slot of this.slots) {
      if (slot.phase !== 'mapping' || slot.work === undefined) continue;
      slot.work.stop();
      this.completeMap(slot);
    }
    this.mapping.length = 0;
  }

  // ---- settling ----

  private iso(ms: number): string {
    return new Date(ms).toISOString();
  }

  private settle(slot: Slot, draft: Draft): void {
    if (slot.phase === 'settled') return;
    const withDag = { ...draft, upstream: [...slot.node.upstream] };
    const record = (withDag.components === undefined && 'components' in withDag ? withoutComponents(withDag) : withDag) as StepRunRecord;
    if (slot.phase === 'queued') this.queue.splice(this.queue.indexOf(slot), 1);
    if (slot.key !== undefined && this.keyOwners.get(slot.key) === slot) this.keyOwners.delete(slot.key);
    this.frontier.delete(slot);
    slot.phase = 'settled';
    slot.status = record.status;
    slot.record = record;
    slot.progress = undefined;
    this.settledCount++;
    if (isDone(slot)) slot.outputs = record.outputs;
    if (this.options.mode === 'run') {
      // A plan neither saves nor reports as it goes: `plan()` is its answer.
      this.unsaved.push(slot);
      if (record.status !== 'cached') this.unsavedWork = true;
      this.holdSaves = false;
      this.notify({ type: 'step-finished', step: record });
    }
    for (const down of slot.downstream) {
      if (isDone(slot)) {
        down.unmet--;
        if (down.unmet === 0 && down.phase === 'waiting') this.frontier.add(down);
      } else if (down.phase === 'waiting') {
        this.skipBlocked(down);
      }
    }
  }

  private skip(slot: Slot, code: 'cancelled' | 'upstream-failed', reason: string): void {
    this.settle(slot, { id: slot.node.id, step: slot.node.step, status: 'skipped', reasonCodes: [code], reason, outputs: {} });
    // Nodes waiting to share its execution: it will not execute, so neither do they.
    for (const sharer of slot.sharers.splice(0)) this.skip(sharer, code, reason);
  }

  private skipBlocked(slot: Slot): void {
    if (this.cancelled) return this.skip(slot, 'cancelled', 'run cancelled');
    const blocked = slot.upstream.filter(isBlocking).map((u) => u.node.id);
    this.skip(slot, 'upstream-failed', `upstream ${blocked.join(', ')} did not succeed`);
  }

  private restore(snapshot: CoreSnapshot | undefined): void {
    if (snapshot === undefined) return;
    for (const slot of this.slots) {
      const status = snapshot.statuses[slot.node.id];
      if (status === undefined) continue;
      slot.phase = 'settled';
      slot.status = status;
      this.settledCount++;
      const outputs = snapshot.outputs[slot.node.id];
      const key = snapshot.keys[slot.node.id];
      if (outputs !== undefined) slot.outputs = outputs;
      if (key !== undefined) slot.key = key;
    }
    for (const [id, progress] of Object.entries(snapshot.maps ?? {})) {
      const slot = this.byId.get(id);
      if (slot !== undefined && slot.phase !== 'settled') slot.carried = progress;
    }
    // A step between attempts is looked up again, then tried with the attempt after those it made.
    for (const [id, { attempts, resume, logs }] of Object.entries(snapshot.retrying ?? {})) {
      const slot = this.byId.get(id);
      if (slot === undefined || slot.phase === 'settled') continue;
      slot.attempt = attempts;
      if (resume !== undefined) slot.resume = resume;
      if (logs !== undefined) slot.logs = logs;
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
        for (const slot of [...this.frontier]) this.skip(slot, 'cancelled', 'run cancelled');
      } else if (!this.draining) {
        while (this.executing < this.concurrency && (this.queue.length > 0 || this.mapping.length > 0)) {
          if (this.queue.length > 0) this.execute(this.queue.shift() as Slot);
          else this.executeElements(this.mapping[0] as Slot);
        }
        while (this.batches.size < this.maxResolving && this.frontier.size > 0) this.resolveBatch();
      }
      this.finishOrSave();
    }
    if (this.out.length === 0) return NOTHING;
    const out = this.out;
    this.out = [];
    return out;
  }

  private upstreamOf(slot: Slot): { outputs: Record<string, Outputs>; keys: Record<string, CacheKey> } {
    const outputs: Record<string, Outputs> = {};
    const keys: Record<string, CacheKey> = {};
    for (const up of slot.upstream) {
      if (up.outputs !== undefined) outputs[up.node.id] = up.outputs;
      if (up.key !== undefined) keys[up.node.id] = up.key;
    }
    return { outputs, keys };
  }

  private execute(slot: Slot): void {
    if (slot.key === undefined || slot.miss === undefined || slot.components === undefined) return;
    const retry = slot.attempt > 0;
    slot.phase = 'executing';
    slot.startedAt ??= this.options.now();
    slot.attempt++;
    slot.progress = undefined;
    this.executing++;
    const upstream = this.upstreamOf(slot);
    if (!retry) this.notify({ type: 'step-running', id: slot.node.id, reason: slot.miss.reason });
    if (this.options.recordRunning === true && !retry) this.saveRunning(slot, undefined);
    const { resume, logs } = slot;
    this.out.push({
      type: 'execute',
      id: slot.node.id,
      key: slot.key,
      components: slot.components,
      lookAgain: slot.miss.lookAgain,
      attempt: slot.attempt,
      ...(resume === undefined ? {} : { resume }),
      ...(logs === undefined ? {} : { logs }),
      upstream: upstream.outputs,
      upstreamKeys: upstream.keys,
    });
  }

  /** Hands out the map's next chunk of invocations; a map with none left leaves the hand-out list. */
  private executeElements(slot: Slot): void {
    const work = slot.work;
    if (work === undefined || slot.key === undefined || slot.components === undefined || slot.miss === undefined || !work.hasPending) {
      this.mapping.splice(this.mapping.indexOf(slot), 1);
      return;
    }
    const chunk = this.options.elementChunk?.(slot.node.id) ?? { size: 1, parallel: 1 };
    const parallel = Math.max(1, Math.min(chunk.parallel, chunk.size, this.concurrency - this.executing));
    const { indices, attempts } = work.take(chunk.size);
    if (!work.hasPending) this.mapping.splice(this.mapping.indexOf(slot), 1);
    this.executing += parallel;
    const upstream = this.upstreamOf(slot);
    this.out.push({
      type: 'execute-elements',
      id: slot.node.id,
      key: slot.key,
      components: slot.components,
      lookAgain: slot.miss.lookAgain,
      indices,
      ...(attempts.some((a) => a > 1) ? { attempts } : {}),
      parallel,
      upstream: upstream.outputs,
      upstreamKeys: upstream.keys,
    });
  }

  /**
   * One batch: the frontier and, with `lookAhead`, following it down, every node whose upstream are all
   * done or in the batch, so a chain of hits resolves in one go (nodes below a miss come back unresolved).
   */
  private resolveBatch(): void {
    const picked = new Set<Slot>();
    const visit = [...this.frontier].sort((a, b) => a.index - b.index);
    for (let i = 0; i < visit.length && picked.size < this.maxBatch; i++) {
      const slot = visit[i] as Slot;
      if (picked.has(slot) || slot.phase !== 'waiting') continue;
      if (!slot.upstream.every((u) => isDone(u) || picked.has(u))) continue;
      picked.add(slot);
      if (!this.options.lookAhead) continue;
      for (const down of slot.downstream) if (down.phase === 'waiting' && !picked.has(down)) visit.push(down);
    }
    if (picked.size === 0) {
      for (const slot of visit) this.frontier.delete(slot); // stale entries only; never expected
      return;
    }
    const batch = this.nextBatch++;
    const slots = [...picked].sort((a, b) => a.index - b.index);
    for (const slot of slots) {
      slot.phase = 'resolving';
      this.frontier.delete(slot);
    }
    this.batches.set(batch, slots);
    this.out.push({ type: 'resolve', batch, ids: slots.map((s) => s.node.id) });
  }

  private finishOrSave(): void {
    const allSettled = this.settledCount === this.slots.length;
    if (this.options.mode === 'plan') {
      // A plan is decided when nothing is being looked up and nothing more can be.
      if (this.batches.size === 0 && this.frontier.size === 0) this.finished = true;
      return;
    }
    if (allSettled && this.saving === undefined && this.executing === 0 && this.batches.size === 0) {
      this.finished = true;
      const now = this.options.now();
      const status = this.slots.every(isDone) ? 'succeeded' : this.cancelled ? 'cancelled' : 'failed';
      const startedMs = Date.parse(this.options.header.startedAt);
      const header: RunHeader = { ...this.options.header, status, finishedAt: this.iso(now), durationMs: Math.max(0, now - startedMs) };
      const steps = this.takeUnsaved();
      this.out.push({ type: 'finish', header, nodes: this.slots.map((s) => ({ id: s.node.id, step: s.node.step, upstream: [...s.node.upstream] })), steps });
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
    const records = this.unsaved.flatMap((slot) => (slot.record === undefined ? [] : [slot.record]));
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
