import {
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { StepRunRecord } from '../cache/records.js';
import { failedElements, outcomeEvent } from '../engine/core/outcome.js';
import { feeder, RunCore } from '../engine/core/run-core.js';
import type { CommandOf, CoreCommand, CoreEvent, ElementResult, Outputs, Resolution } from '../engine/core/run-protocol.js';
import { asAttempt, failedOutcome, isCancelled, runFailure } from './outcomes.js';
import { PIPELINE_KEY, RUN_ID_KEY } from './search-attributes.js';
import { ElementChunks } from './element-chunks.js';
import { answeredAhead, LookAhead } from './look-ahead.js';
import { SaveResults } from './save-results.js';
import { controlActivities, elementActivities, schedulingOf, stepActivities, waitingActivities } from './step-activities.js';
import type { DagNode, PipelineRunInput, PipelineRunResult, RunContext, RunProgress } from './types.js';

export const progressQuery = defineQuery<RunProgress>('progress');

/** Nodes per look-up: keeps each activity's payload far below Temporal's limit. */
const MAX_ROUND_SIZE = 250;

const ignore = (): undefined => undefined;

/** Same shape as the local executor's ids (`20261126T160759.123Z-3f9a1c`), derived deterministically. */
function runIdFromWorkflow(): string {
  const info = workflowInfo();
  return `${info.startTime.toISOString().replace(/[-:]/g, '')}-${info.runId.replace(/-/g, '').slice(0, 6)}`;
}

/**
 * The Temporal driver of the run core. Look-ups and record writes are activities on the cpu queue (a GPU
 * step's cache hit never takes a GPU slot; see controlActivities); a miss runs directly on the queue its step names
 * after claiming the key, and only when another run holds the key does it wait through the key's
 * shared step-execution workflow. Waits between attempts are durable timers. Long runs continue as new
 * when Temporal suggests it, carrying the core's snapshot.
 */
export async function pipelineWorkflow(input: PipelineRunInput): Promise<PipelineRunResult> {
  const runId = input.runId ?? runIdFromWorkflow();
  const context: RunContext = { ...input.context, runId };
  const { options, carried } = input;
  const generation = carried?.generation ?? 0;
  const startedAt = carried?.startedAt ?? workflowInfo().startTime.toISOString();
  const control = controlActivities(input.context, options.heartbeatTimeoutMs);

  const opened = await control.openRun(context, { startedAt, writeRecord: generation === 0 });
  if (generation === 0)
    upsertSearchAttributes([
      { key: PIPELINE_KEY, value: opened.pipeline },
      { key: RUN_ID_KEY, value: runId },
    ]);
  const nodes = new Map<string, DagNode>(opened.nodes.map((n) => [n.id, n]));
  const scheduling = (id: string) => ({ context, ...schedulingOf(nodes.get(id) as DagNode, options.heartbeatTimeoutMs) });
  // The record names the worker that opened the run, whichever generation this is.
  const { host, pid } = carried ?? opened;
  const chunks = ElementChunks.forThisRun((id) => nodes.get(id)?.queue);
  const lookAhead = LookAhead.forThisRun(nodes);
  // A running map's record is saved by its progress, not by the workflow clock (see RunCoreOptions.now):
  // decided at the start of a run, and asked again at each save decision of a run begun by a release that
  // saved by the clock, so it takes the rule up at its first decision on this release's workers (a
  // decision taken live; the marker then sits there in its history, and a replay switches at that point).
  // Asked after the two above, as before: the order of the markers is part of the history.
  const savesByTenths = patched('map-progress-by-tenths');
  const core = new RunCore(opened.nodes, {
    mode: 'run',
    header: {
      format: 'flywheel.run/v1',
      runId,
      pipeline: opened.pipeline,
      startedAt,
      host,
      pid,
      engine: 'temporal',
      source: context.pipelinePath,
      overrides: context.setArgs,
      ...(context.prices === undefined ? {} : { prices: context.prices }),
    },
    now: () => Date.now(),
    mapProgressSaves: () => (savesByTenths || patched('map-progress-by-tenths') ? 'every-tenth' : 'every-second'),
    mapInfrastructureFailures: patched('map-fails-on-infrastructure') ? 'fail-map' : 'leave-out',
    concurrency: options.concurrency,
    maxResolving: 1,
    maxRoundSize: MAX_ROUND_SIZE,
    lookAhead: true,
    // A map's elements go out in chunks, one activity each; a GPU map one per activity, so one per GPU slot.
    elementChunk: (id) => chunks.next(id),
    ...(carried === undefined ? {} : { restore: carried }),
  });
  // Asked after every marker above, as the order of markers is part of the history.
  const saveResults = SaveResults.forThisRun();
  setHandler(progressQuery, () => ({ runId, pipeline: opened.pipeline, generation, steps: core.progress() }));

  let inFlight = 0;
  let finish: CommandOf<'finish'> | undefined;
  const commands: CoreCommand[] = [];
  const send = feeder(core, (command) => commands.push(command));
  const track = (work: Promise<void>): void => {
    inFlight++;
    void work.finally(() => inFlight--);
  };
  /**
   * Feeds an event, then starts what the core asked for. A save goes along with a look-up activity when there
   * is one. A step's outcome comes with what its worker looked up ahead: the round this feed starts is
   * answered from that, as far as it covers it (see workflows/look-ahead.ts).
   */
  const feed = (event: CoreEvent | 'start', lookedAhead?: readonly Resolution[]): void => {
    send(event);
    const pending = commands.splice(0);
    const save = pending.find((c): c is CommandOf<'save'> => c.type === 'save');
    const resolve = pending.find((c): c is CommandOf<'resolve'> => c.type === 'resolve');
    for (const command of pending) {
      if (command.type === 'execute') track(execute(command));
      if (command.type === 'execute-elements') track(executeChunk(command));
      if (command.type === 'assemble') track(assemble(command));
      if (command.type === 'wait') void sleep(command.delayMs).then(() => feed({ type: 'tick' }), ignore); // a durable timer: a retry's wait
      if (command.type === 'finish') finish = command;
    }
    const ahead = resolve === undefined ? undefined : answeredAhead(resolve.ids, lookedAhead);
    if (resolve !== undefined && ahead === undefined) track(lookUp(resolve, save?.steps ?? []));
    else if (save !== undefined) track(saveSteps(save.steps));
    // Answered at once, not a microtask later: what another activity's result does in between would then
    // depend on how the SDK groups results into activations, which a replay may do differently.
    if (resolve !== undefined && ahead !== undefined) answer(resolve, ahead);
  };
  /** A failed activity: the core hears it failed, and first that the run is cancelled if that is why. */
  const failed = (error: unknown, event: (outcome: ReturnType<typeof failedOutcome>) => CoreEvent): void => {
    if (isCancelled(error)) feed({ type: 'cancel' });
    feed(event(failedOutcome(error)));
  };

  const lookUp = async (command: CommandOf<'resolve'>, save: StepRunRecord[]): Promise<void> => {
    const known: Record<string, Outputs> = {};
    for (const id of command.ids) for (const u of nodes.get(id)?.upstream ?? []) if (core.outputsOf(u) !== undefined) known[u] = core.outputsOf(u) as Outputs;
    try {
      const result = await control.resolveSteps({ context, options: { force: options.force, forceAll: options.forceAll }, ids: command.ids, known, save });
      if (save.length > 0) feed({ type: 'saved', ok: true });
      answer(command, result.resolutions);
    } catch (error) {
      if (save.length > 0) feed({ type: 'saved', ok: false });
      // A cancelled look-up leaves what it did not resolve to be skipped as cancelled.
      if (isCancelled(error)) feed({ type: 'cancel' });
      feed(
        isCancelled(error)
          ? { type: 'resolve-done', round: command.round }
          : { type: 'resolve-failed', round: command.round, error: failedOutcome(error).error },
      );
    }
  };

  /** A round's resolutions, from its look-up activity or from a step's look-ahead, then its end. */
  const answer = (command: CommandOf<'resolve'>, resolutions: readonly Resolution[]): void => {
    for (const resolution of resolutions) feed({ type: 'resolved', resolution });
    feed({ type: 'resolve-done', round: command.round });
  };

  // Saves must land even while the run is being cancelled: they are what the record says afterwards.
  const saveSteps = (steps: StepRunRecord[]): Promise<void> => {
    let saving: Promise<void> = Promise.resolve();
    // The scope calls its function at once: `saving` is the activity's own promise.
    const scoped = CancellationScope.nonCancellable(() => (saving = control.saveSteps({ context, steps })));
    return saveResults.deliver(saving, scoped, (ok) => feed({ type: 'saved', ok }));
  };

  const execute = async (command: CommandOf<'execute'>): Promise<void> => {
    const ahead = lookAhead.request(command.id, (id) => core.outputsOf(id));
    const request = {
      ...scheduling(command.id),
      command,
      waitedFor: [],
      ...(ahead === undefined ? {} : { lookAhead: { ...ahead, options: { force: options.force, forceAll: options.forceAll } } }),
    };
    try {
      let attempt = asAttempt(await stepActivities(request).executeStep(request), runId);
      // Another process holds the key: wait for its execution through the key's shared workflow, on the cpu queue.
      if (attempt.kind === 'contended')
        attempt = asAttempt(await waitingActivities(request).runStep({ ...request, waitedFor: [attempt.holder.token], resume: attempt.resume }), runId);
      feed(outcomeEvent(command.id, runId, attempt), attempt.lookedAhead?.resolutions);
    } catch (error) {
      failed(error, (outcome) => outcomeEvent(command.id, runId, outcome));
    }
  };

  const executeChunk = async (command: CommandOf<'execute-elements'>): Promise<void> => {
    const request = { ...scheduling(command.id), command };
    let results: ElementResult[];
    try {
      let durationMs: number | undefined;
      ({ results, durationMs } = await elementActivities({ ...request, ...command }).executeElements(request));
      if (durationMs !== undefined) chunks.observe(command.id, command.indices.length, durationMs);
    } catch (error) {
      if (isCancelled(error)) feed({ type: 'cancel' });
      results = failedElements(command.indices, failedOutcome(error).error);
    }
    feed({ type: 'elements-done', id: command.id, results, parallel: command.parallel });
  };

  const assemble = async (command: CommandOf<'assemble'>): Promise<void> => {
    try {
      feed(await control.assembleMap({ context, command }));
    } catch (error) {
      failed(error, (outcome) => ({ type: 'failed', id: command.id, error: { code: outcome.error.code, message: outcome.error.message } }));
    }
  };

  const close = ({ header, nodes: dag, steps }: CommandOf<'finish'>): Promise<void> =>
    CancellationScope.nonCancellable(() => control.closeRun({ context, header, nodes: dag, steps }));

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
      await close(finish as CommandOf<'finish'>);
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
  // A failed pipeline fails its workflow, so Temporal (UI, schedules, `runs`) shows it as failed; the record says why.
  if (finished.header.status === 'failed' || finished.header.status === 'cancelled')
    throw runFailure(runId, opened.pipeline, finished.header.status, core.progress());
  return { runId, pipeline: opened.pipeline, status: 'succeeded' };
}
