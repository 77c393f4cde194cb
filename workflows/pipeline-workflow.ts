import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { FlywheelActivities } from '../activities/create-activities.js';
import type { EngineErrorCode } from '../cache/errors.js';
import type { StepRunRecord } from '../cache/records.js';
import { feeder, RunCore } from '../engine/core/run-core.js';
import type { CoreCommand, CoreEvent, Outputs, StepError } from '../engine/core/run-protocol.js';
import { PIPELINE_KEY, RUN_ID_KEY } from './search-attributes.js';
import { ELEMENT_CHUNKS, elementActivities, RETRY, stepActivities, waitingActivities } from './step-activities.js';
import {
  RUN_FAILED,
  type DagNode,
  type PipelineRunInput,
  type PipelineRunResult,
  type RunContext,
  type ElementsInput,
  type Scheduling,
  type RunProgress,
  type StepExecutionInput,
  type StepExecutionResult,
} from './types.js';

export const progressQuery = defineQuery<RunProgress>('progress');

/** Nodes per look-up: keeps each activity's payload far below Temporal's limit. */
const MAX_RESOLVE_BATCH = 250;
const CANCELLED: EngineErrorCode = 'STEP_CANCELLED';
const FAILED: EngineErrorCode = 'STEP_FAILED';

type Command<T extends CoreCommand['type']> = Extract<CoreCommand, { type: T }>;

/** Same shape as the local executor's ids (`20261126T160759.123Z-3f9a1c`), derived deterministically. */
function runIdFromWorkflow(): string {
  const info = workflowInfo();
  return `${info.startTime.toISOString().replace(/[-:]/g, '')}-${info.runId.replace(/-/g, '').slice(0, 6)}`;
}

function isCancelled(error: unknown): boolean {
  return isCancellation(error) || (error instanceof ActivityFailure && isCancellation(error.cause));
}

/** A failed activity as a step error: the stable code travels as the ApplicationFailure's type. */
function failureOf(error: unknown): { error: StepError; attempts?: number; logs?: NonNullable<StepExecutionResult['logs']> } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    const { attempts, logs } = (cause.details?.[0] as { attempts?: number; logs?: NonNullable<StepExecutionResult['logs']> } | undefined) ?? {};
    return {
      error: { code: cause.type ?? FAILED, message: cause.message },
      ...(attempts === undefined ? {} : { attempts }),
      ...(logs === undefined ? {} : { logs }),
    };
  }
  if (isCancellation(cause)) return { error: { code: CANCELLED, message: 'the run was cancelled' } };
  return { error: { code: FAILED, message: (cause as Error | undefined)?.message ?? String(cause) } };
}

/**
 * The Temporal driver of the run core. Look-ups and record writes are local activities on the cpu worker
 * (a GPU step's cache hit never takes a GPU slot); a miss runs directly on the queue its step names
 * after claiming the key, and only when another run holds the key does it wait through the key's
 * shared step-execution workflow. Long runs continue as new when Temporal suggests it, carrying the
 * core's snapshot.
 */
export async function pipelineWorkflow(input: PipelineRunInput): Promise<PipelineRunResult> {
  const runId = input.runId ?? runIdFromWorkflow();
  const context: RunContext = { ...input.context, runId };
  const { options, carried } = input;
  const generation = carried?.generation ?? 0;
  const startedAt = carried?.startedAt ?? workflowInfo().startTime.toISOString();
  const control = proxyLocalActivities<FlywheelActivities>({ startToCloseTimeout: '10m', retry: RETRY });

  const opened = await control.openRun(context, { startedAt, writeRecord: generation === 0 });
  if (generation === 0)
    upsertSearchAttributes([
      { key: PIPELINE_KEY, value: opened.pipeline },
      { key: RUN_ID_KEY, value: runId },
    ]);
  const nodes = new Map<string, DagNode>(opened.nodes.map((n) => [n.id, n]));
  // The record names the worker that opened the run, whichever generation this is.
  const { host, pid } = carried ?? opened;
  const core = new RunCore(opened.nodes, {
    mode: 'run',
    header: { format: 'flywheel.run/v1', runId, pipeline: opened.pipeline, startedAt, host, pid, engine: 'temporal', overrides: context.setArgs },
    now: () => Date.now(),
    concurrency: options.concurrency,
    maxResolving: 1,
    maxBatch: MAX_RESOLVE_BATCH,
    lookAhead: true,
    // A map's invocations go out in chunks, one activity each; a GPU map one per activity, so one per GPU slot.
    elementChunk: (id) => (nodes.get(id)?.queue === 'cpu' ? ELEMENT_CHUNKS.cpu : ELEMENT_CHUNKS.gpu),
    ...(carried === undefined ? {} : { restore: carried }),
  });
  setHandler(progressQuery, () => ({ runId, pipeline: opened.pipeline, generation, steps: core.progress() }));

  let inFlight = 0;
  let finish: Command<'finish'> | undefined;
  const commands: CoreCommand[] = [];
  const send = feeder(core, (command) => commands.push(command));
  const track = (work: Promise<void>): void => {
    inFlight++;
    void work.finally(() => inFlight--);
  };
  /** Feeds an event, then starts what the core asked for. A save goes along with a look-up when there is one. */
  const feed = (event: CoreEvent | 'start'): void => {
    send(event);
    const batch = commands.splice(0);
    const save = batch.find((c): c is Command<'save'> => c.type === 'save');
    const resolve = batch.find((c): c is Command<'resolve'> => c.type === 'resolve');
    for (const command of batch) {
      if (command.type === 'execute') track(execute(command));
      if (command.type === 'execute-elements') track(executeChunk(command));
      if (command.type === 'assemble') track(assemble(command));
      if (command.type === 'finish') finish = command;
    }
    if (resolve !== undefined) track(lookUp(resolve, save?.steps ?? []));
    else if (save !== undefined) track(saveSteps(save.steps));
  };

  const lookUp = async (command: Command<'resolve'>, save: StepRunRecord[]): Promise<void> => {
    const known: Record<string, Outputs> = {};
    for (const id of command.ids) {
      for (const u of nodes.get(id)?.upstream ?? []) {
        const outputs = core.outputsOf(u);
        if (outputs !== undefined) known[u] = outputs;
      }
    }
    try {
      const result = await control.resolveSteps({ context, options: { force: options.force, forceAll: options.forceAll }, ids: command.ids, known, save });
      if (save.length > 0) feed({ type: 'saved', ok: true });
      for (const resolution of result.resolutions) feed({ type: 'resolved', resolution });
      feed({ type: 'resolve-done', batch: command.batch });
    } catch (error) {
      if (save.length > 0) feed({ type: 'saved', ok: false });
      if (isCancelled(error)) {
        feed({ type: 'cancel' });
        feed({ type: 'resolve-done', batch: command.batch }); // what it did not resolve is skipped as cancelled
      } else {
        feed({ type: 'resolve-failed', batch: command.batch, error: failureOf(error).error });
      }
    }
  };

  // Saves must land even while the run is being cancelled: they are what the record says afterwards.
  const saveSteps = async (steps: StepRunRecord[]): Promise<void> => {
    const ok = await CancellationScope.nonCancellable(() => control.saveSteps({ context, steps })).then(
      () => true,
      () => false,
    );
    feed({ type: 'saved', ok });
  };

  /** Where and under which limits a node's work runs: its queue, time limit, retries and heartbeat timeout. */
  const schedulingOf = (node: DagNode): Scheduling => ({
    queue: node.queue,
    ...(node.timeoutMs === undefined ? {} : { timeoutMs: node.timeoutMs }),
    retries: node.retries,
    heartbeatTimeoutMs: node.heartbeatTimeoutMs ?? options.heartbeatTimeoutMs,
  });

  const execute = async (command: Command<'execute'>): Promise<void> => {
    const node = nodes.get(command.id) as DagNode;
    const request: StepExecutionInput = {
      context,
      nodeId: node.id,
      cacheKey: command.key,
      upstream: command.upstream,
      upstreamKeys: command.upstreamKeys,
      ...schedulingOf(node),
      lookAgain: command.lookAgain,
      waitedFor: [],
    };
    try {
      const direct = await stepActivities(request).executeStep(request);
      const result =
        'contended' in direct
          ? await waitingActivities(request).runStep({
              ...request,
              waitedFor: [direct.contended.token],
              ...(direct.resume === undefined ? {} : { resume: direct.resume }),
            })
          : direct;
      const { outputs, durationMs, computedBy, attempts, logs } = result;
      feed({ type: 'executed', id: node.id, outputs, durationMs, computedBy, attempts, ...(logs === undefined ? {} : { logs }) });
    } catch (error) {
      // A cancelled workflow cancels its activities; the first to report it tells the core.
      if (isCancelled(error)) feed({ type: 'cancel' });
      feed({ type: 'failed', id: node.id, ...failureOf(error) });
    }
  };

  const executeChunk = async (command: Command<'execute-elements'>): Promise<void> => {
    const node = nodes.get(command.id) as DagNode;
    const request: ElementsInput = {
      context,
      nodeId: node.id,
      cacheKey: command.key,
      indices: command.indices,
      parallel: command.parallel,
      upstream: command.upstream,
      upstreamKeys: command.upstreamKeys,
      ...schedulingOf(node),
      lookAgain: command.lookAgain,
    };
    try {
      const { results } = await elementActivities(request).executeElements(request);
      feed({ type: 'elements-done', id: node.id, results, parallel: command.parallel });
    } catch (error) {
      if (isCancelled(error)) feed({ type: 'cancel' });
      const { error: failure } = failureOf(error);
      const results = command.indices.map((index) => ({ index, status: 'failed' as const, error: failure }));
      feed({ type: 'elements-done', id: node.id, results, parallel: command.parallel });
    }
  };

  const assemble = async (command: Command<'assemble'>): Promise<void> => {
    try {
      const { outputs, keys } = await control.assembleMap({
        context,
        nodeId: command.id,
        cacheKey: command.key,
        components: command.components,
        leftOut: command.leftOut,
        durationMs: command.durationMs,
        upstream: command.upstream,
      });
      feed({ type: 'assembled', id: command.id, outputs, keys });
    } catch (error) {
      if (isCancelled(error)) feed({ type: 'cancel' });
      feed({ type: 'failed', id: command.id, ...failureOf(error) });
    }
  };

  const close = async (command: Command<'finish'>): Promise<void> => {
    await CancellationScope.nonCancellable(() => control.closeRun({ context, header: command.header, nodes: command.nodes, steps: command.steps }));
  };

  try {
    feed('start');
    await condition(() => finish !== undefined || workflowInfo().continueAsNewSuggested);
    if (finish === undefined) {
      // Finish what is in flight and save it, then carry the rest over to a fresh history.
      feed({ type: 'drain' });
      await condition(() => finish !== undefined || (core.idle && inFlight === 0));
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(async () => {
      feed({ type: 'cancel' });
      await condition(() => finish !== undefined && inFlight === 0);
      await close(finish as Command<'finish'>);
    });
    throw error;
  }

  if (finish === undefined) {
    return continueAsNew<typeof pipelineWorkflow>({ ...input, runId, carried: { ...core.snapshot(), generation: generation + 1, startedAt, host, pid } });
  }
  const finished = finish;
  // A cancel arriving now must not leave the record `running`.
  await CancellationScope.nonCancellable(async () => {
    await condition(() => inFlight === 0);
    await close(finished);
  });
  if (finished.header.status === 'failed' || finished.header.status === 'cancelled') {
    // A failed pipeline fails its workflow, so Temporal (UI, schedules, `runs`) shows it as failed; the record says why.
    const failed = core
      .progress()
      .filter((s) => s.status === 'failed')
      .map((s) => s.id);
    throw ApplicationFailure.create({
      type: RUN_FAILED,
      message: `run ${runId} of ${opened.pipeline} ${finished.header.status === 'cancelled' ? 'was cancelled' : 'failed'}: ${failed.join(', ') || 'steps skipped'}`,
      nonRetryable: true,
      details: [{ runId }],
    });
  }
  return { runId, pipeline: opened.pipeline, status: 'succeeded' };
}
