import { describe, expect, it } from 'vitest';
import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import type { StepRunRecord } from '../../cache/records.js';
import { retryPolicy } from '../../engine/core/retry-policy.js';
import { RunCore, type RunCoreOptions } from '../../engine/core/run-core.js';
import type { CoreCommand, CoreEvent, CoreNode, ElementResult, Outputs, Resolution } from '../../engine/core/run-protocol.js';

// The run core is pure: these tests drive it with events and read its commands, no store and no clock.

const hex = (seed: string): string =>
  seed
    .padEnd(64, '0')
    .replace(/[^0-9a-f]/g, 'a')
    .slice(0, 64);
const keyOf = (id: string): CacheKey => hex(`${id.length}${id}`) as CacheKey;
const outputsOf = (id: string): Outputs => ({ out: { kind: 'file', digest: hex(`d${id}`) as Digest, size: 1 } });
const components = (id: string): KeyComponents => ({ step: id, version: '1', ports: { inputs: {}, outputs: {} }, config: {}, inputs: {}, env: {} });
const node = (id: string, upstream: string[] = []): CoreNode => ({ id, step: `step-${id}`, upstream });

/** A chain a → b → c and a diamond branch a → d, joined at e (c and d). */
const DAG = [node('a'), node('b', ['a']), node('c', ['b']), node('d', ['a']), node('e', ['c', 'd'])];

function core(nodes: CoreNode[], options: Partial<RunCoreOptions> = {}): RunCore {
  let clock = 1_000;
  return new RunCore(nodes, {
    mode: 'run',
    header: { format: 'flywheel.run/v1', runId: 'run-1', pipeline: 'p', startedAt: new Date(0).toISOString(), host: 'h', pid: 1, overrides: [] },
    now: () => (clock += 10),
    ...options,
  });
}

const hit = (id: string, by = 'run-0'): Resolution => ({
  kind: 'hit',
  id,
  key: keyOf(id),
  components: components(id),
  outputs: outputsOf(id),
  computedBy: by,
  savedMs: 50,
});
const miss = (id: string, key = keyOf(id)): Resolution => ({
  kind: 'miss',
  id,
  key,
  components: components(id),
  codes: ['config-changed'],
  reason: `config of ${id} changed`,
  rejected: false,
});

/**
 * A scripted driver: `answer(id)` says what the cache holds for a node; executions succeed unless the id
 * is in `failing`. Commands are carried out one at a time, in order, like a real driver's callbacks.
 */
function drive(run: RunCore, answer: (id: string) => Resolution, failing: ReadonlySet<string> = new Set()) {
  const log: CoreCommand[] = [];
  const pending: CoreCommand[] = [...run.start()];
  const feed = (event: CoreEvent): void => void pending.push(...run.handle(event));
  while (pending.length > 0) {
    const command = pending.shift() as CoreCommand;
    log.push(command);
    if (command.type === 'resolve') {
      const known = new Set<string>();
      for (const id of command.ids) {
        const upstream = DAG.find((n) => n.id === id)?.upstream ?? [];
        if (!upstream.every((u) => run.outputsOf(u) !== undefined || known.has(u))) continue; // below a miss in this round
        const resolution = answer(id);
        if (resolution.kind === 'hit') known.add(id);
        feed({ type: 'resolved', resolution });
      }
      feed({ type: 'resolve-done', round: command.round });
    } else if (command.type === 'execute') {
      if (failing.has(command.id)) feed({ type: 'failed', id: command.id, error: { code: 'STEP_FAILED', message: `${command.id} broke` } });
      else feed({ type: 'executed', id: command.id, outputs: outputsOf(command.id), durationMs: 40, computedBy: 'run-1' });
    } else if (command.type === 'save') {
      feed({ type: 'saved', ok: true });
    }
  }
  const finish = log.find((c): c is Extract<CoreCommand, { type: 'finish' }> => c.type === 'finish');
  const saved = log.flatMap((c) => (c.type === 'save' ? c.steps : []));
  const records = new Map<string, StepRunRecord>([...saved, ...(finish?.steps ?? [])].map((s) => [s.id, s]));
  return {
    log,
    finish,
    records,
    status: (id: string) => records.get(id)?.status,
    of: <T extends CoreCommand['type']>(type: T) => log.filter((c): c is Extract<CoreCommand, { type: T }> => c.type === type),
  };
}

describe('the run core', () => {
  it('resolves a chain of hits in one round with look-ahead and finishes without executing anything', () => {
    const result = drive(core(DAG, { lookAhead: true }), (id) => hit(id));
    expect(result.of('resolve').map((c) => c.ids)).toEqual([['a', 'b', 'c', 'd', 'e']]);
    expect(result.of('execute')).toHaveLength(0);
    expect(result.finish?.header.status).toBe('succeeded');
    expect(result.finish?.nodes.map((n) => n.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(result.records.get('c')).toMatchObject({ status: 'cached', reasonCodes: ['cache-hit'], reason: 'cache hit (computed by run run-0)', savedMs: 50 });
  });

  it('executes a miss, then resolves what it unblocks; the record says why it ran', () => {
    const result = drive(core(DAG, { lookAhead: true }), (id) => (id === 'b' ? miss('b') : hit(id)));
    expect(result.of('execute').map((c) => c.id)).toEqual(['b']);
    // c and e wait below b; d is a hit in the first round.
    expect(result.of('resolve').map((c) => c.ids)).toEqual([
      ['a', 'b', 'c', 'd', 'e'],
      ['c', 'e'],
    ]);
    expect(result.records.get('b')).toMatchObject({
      status: 'executed',
      reasonCodes: ['config-changed'],
      reason: 'config of b changed',
      attempts: 1,
      cacheKey: keyOf('b'),
    });
    expect(result.of('execute')[0]).toMatchObject({ lookAgain: true, upstream: { a: outputsOf('a') }, upstreamKeys: { a: keyOf('a') } });
    expect(result.finish?.header.status).toBe('succeeded');
  });

  it('skips what lies below a failure, keeps independent branches going, and fails the run', () => {
    const result = drive(core(DAG), (id) => miss(id), new Set(['b']));
    expect(result.status('b')).toBe('failed');
    expect(result.records.get('b')?.error).toEqual({ code: 'STEP_FAILED', message: 'b broke' });
    expect(result.records.get('c')).toMatchObject({ status: 'skipped', reasonCodes: ['upstream-failed'], reason: 'upstream b did not succeed' });
    expect(result.status('d')).toBe('executed');
    expect(result.records.get('e')).toMatchObject({ status: 'skipped', reason: 'upstream c did not succeed' });
    expect(result.finish?.header.status).toBe('failed');
  });

  it('executes two nodes with one key once: the second shares the first execution', () => {
    const nodes = [node('a'), node('twin-1', ['a']), node('twin-2', ['a'])];
    const shared = keyOf('twin');
    const result = drive(core(nodes), (id) => (id === 'a' ? hit('a') : miss(id, shared)));
    expect(result.of('execute').map((c) => c.id)).toEqual(['twin-1']);
    expect(result.records.get('twin-2')).toMatchObject({
      status: 'cached',
      reasonCodes: ['shared-execution'],
      reason: 'computed once by another step of this run while this step waited',
      savedMs: 40,
    });
  });

  it('runs no more steps at once than its concurrency, and hands out the rest as slots free up', () => {
    const nodes = ['a', 'b', 'c'].map((id) => node(id));
    const run = core(nodes, { concurrency: 2 });
    const started = run.start();
    expect(started.filter((c) => c.type === 'resolve')).toHaveLength(1);
    const afterResolve = ['a', 'b', 'c'].flatMap((id) => run.handle({ type: 'resolved', resolution: miss(id) }));
    expect(afterResolve.filter((c) => c.type === 'execute').map((c) => (c as { id: string }).id)).toEqual(['a', 'b']);
    const next = run.handle({ type: 'executed', id: 'a', outputs: outputsOf('a'), durationMs: 1, computedBy: 'run-1' });
    expect(next.filter((c) => c.type === 'execute').map((c) => (c as { id: string }).id)).toEqual(['c']);
  });

  it('reports a result another run computed while this one waited as shared, not executed', () => {
    const run = core([node('a')]);
    run.start();
    run.handle({ type: 'resolved', resolution: miss('a') });
    run.handle({ type: 'resolve-done', round: 0 });
    const done = run.handle({ type: 'executed', id: 'a', outputs: outputsOf('a'), durationMs: 900, computedBy: 'run-other' });
    const finish = done.find((c) => c.type === 'finish');
    expect(finish?.type === 'finish' && finish.steps[0]).toMatchObject({
      status: 'cached',
      reasonCodes: ['shared-execution'],
      reason: 'computed once by run run-other while this step waited',
      savedMs: 900,
    });
  });

  it('on cancel skips what has not started, waits for what runs, and still finishes', () => {
    const run = core(DAG, { lookAhead: true });
    const seen: CoreCommand[] = [...run.start()];
    for (const resolution of [hit('a'), miss('b'), miss('d')]) seen.push(...run.handle({ type: 'resolved', resolution }));
    seen.push(...run.handle({ type: 'resolve-done', round: 0 }), ...run.handle({ type: 'saved', ok: true }));
    const cancelled = run.handle({ type: 'cancel' });
    expect(cancelled.some((c) => c.type === 'finish')).toBe(false); // b and d are still executing
    seen.push(...cancelled, ...run.handle({ type: 'failed', id: 'b', error: { code: 'STEP_CANCELLED', message: 'step b was cancelled' } }));
    seen.push(...run.handle({ type: 'failed', id: 'd', error: { code: 'STEP_CANCELLED', message: 'step d was cancelled' } }));
    const last = run.handle({ type: 'saved', ok: true }); // the save of the skipped steps: then the run may end
    const records = [...seen, ...last].flatMap((c) => (c.type === 'notify' && c.event.type === 'step-finished' ? [c.event.step] : []));
    expect(records.find((s) => s.id === 'c')).toMatchObject({ status: 'skipped', reasonCodes: ['cancelled'], reason: 'run cancelled' });
    expect(records.find((s) => s.id === 'b')?.error?.code).toBe('STEP_CANCELLED');
    expect(last.find((c) => c.type === 'finish')).toMatchObject({ header: { status: 'cancelled' } });
  });

  it('on cancel also skips the nodes waiting to share a queued execution, so the run still ends', () => {
    const nodes = [node('a'), node('b'), node('twin-1', ['a']), node('twin-2', ['a'])];
    const run = core(nodes, { concurrency: 1 });
    run.start();
    run.handle({ type: 'resolved', resolution: miss('a') });
    run.handle({ type: 'resolved', resolution: miss('b') }); // queued behind a: one slot
    run.handle({ type: 'resolve-done', round: 0 });
    run.handle({ type: 'executed', id: 'a', outputs: outputsOf('a'), durationMs: 1, computedBy: 'run-1' });
    run.handle({ type: 'saved', ok: true });
    run.handle({ type: 'resolved', resolution: miss('twin-1', keyOf('twin')) });
    run.handle({ type: 'resolved', resolution: miss('twin-2', keyOf('twin')) }); // shares twin-1's queued execution
    run.handle({ type: 'resolve-done', round: 1 });
    const seen = [...run.handle({ type: 'cancel' })];
    seen.push(...run.handle({ type: 'failed', id: 'b', error: { code: 'STEP_CANCELLED', message: 'step b was cancelled' } }));
    seen.push(...run.handle({ type: 'saved', ok: true }));
    const finished = seen.flatMap((c) => (c.type === 'notify' && c.event.type === 'step-finished' ? [c.event.step] : []));
    expect(finished.filter((s) => s.id.startsWith('twin')).map((s) => [s.id, s.status, s.reason])).toEqual([
      ['twin-1', 'skipped', 'run cancelled'],
      ['twin-2', 'skipped', 'run cancelled'],
    ]);
    expect(seen.some((c) => c.type === 'finish')).toBe(true);
  });

  it('a cancel before the start announces the run, then skips everything without looking anything up', () => {
    const run = core(DAG);
    expect(run.handle({ type: 'cancel' })).toEqual([]);
    const started = run.start();
    expect(started[0]).toMatchObject({ type: 'notify', event: { type: 'run-started' } });
    expect(started.some((c) => c.type === 'resolve')).toBe(false);
    const finish = started.find((c) => c.type === 'finish');
    expect(finish?.type === 'finish' && finish.header.status).toBe('cancelled');
    expect(finish?.type === 'finish' && finish.steps.every((s) => s.status === 'skipped')).toBe(true);
  });

  it('saves each finished step before the run ends, one save at a time, and keeps a failed save for the next', () => {
    const run = core([node('a'), node('b', ['a'])]);
    run.start();
    const first = run.handle({ type: 'resolved', resolution: miss('a') });
    run.handle({ type: 'resolve-done', round: 0 });
    const executed = run.handle({ type: 'executed', id: 'a', outputs: outputsOf('a'), durationMs: 1, computedBy: 'run-1' });
    expect(first.some((c) => c.type === 'save')).toBe(false);
    const save = executed.find((c) => c.type === 'save');
    expect(save?.type === 'save' && save.steps.map((s) => s.id)).toEqual(['a']);
    // The store refused it: the record is kept and goes with the final record.
    run.handle({ type: 'saved', ok: false });
    run.handle({ type: 'resolved', resolution: miss('b') });
    run.handle({ type: 'resolve-done', round: 1 });
    const end = run.handle({ type: 'executed', id: 'b', outputs: outputsOf('b'), durationMs: 1, computedBy: 'run-1' });
    const finish = end.find((c) => c.type === 'finish');
    expect(finish?.type === 'finish' && finish.steps.map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('fails a node whose key cannot be made, and skips its downstream', () => {
    const result = drive(core(DAG), (id) => (id === 'a' ? { kind: 'error', id, error: { code: 'EXTERNAL_STATE_FAILED', message: 'unreadable' } } : hit(id)));
    expect(result.records.get('a')).toMatchObject({ status: 'failed', reason: 'cache look-up failed', error: { code: 'EXTERNAL_STATE_FAILED' } });
    expect(result.status('b')).toBe('skipped');
    expect(result.status('d')).toBe('skipped');
  });

  it('without look-ahead resolves each node as its upstream settle (in-process drivers)', () => {
    const result = drive(core(DAG), (id) => hit(id));
    expect(result.of('resolve').map((c) => c.ids)).toEqual([['a'], ['b', 'd'], ['c'], ['e']]);
    expect(result.finish?.header.status).toBe('succeeded');
  });

  it('keeps look-ups to one round of a bounded size at a time when asked (Temporal)', () => {
    const chain = Array.from({ length: 5 }, (_, i) => node(`s${i}`, i === 0 ? [] : [`s${i - 1}`]));
    const result = drive(core(chain, { maxResolving: 1, maxRoundSize: 2, lookAhead: true }), (id) => hit(id));
    expect(result.of('resolve').map((c) => c.ids)).toEqual([['s0', 's1'], ['s2', 's3'], ['s4']]);
  });

  it('plans: each step cached, to run (why), or pending on an upstream that runs', () => {
    const run = core(DAG, { mode: 'plan', ownChanges: (id) => (id === 'e' ? 'config x: 1 → 2' : undefined) });
    const result = drive(run, (id) => (id === 'b' ? miss('b') : hit(id)));
    expect(run.done).toBe(true);
    expect(result.of('execute')).toHaveLength(0);
    expect(run.plan().map((s) => [s.id, s.decision])).toEqual([
      ['a', 'cached'],
      ['b', 'run'],
      ['c', 'pending'],
      ['d', 'cached'],
      ['e', 'pending'],
    ]);
    expect(run.plan().find((s) => s.id === 'e')?.reason).toBe('key known only after upstream c runs; its own config x: 1 → 2');
    expect(run.plan().find((s) => s.id === 'b')).toMatchObject({ reasonCodes: ['config-changed'], cacheKey: keyOf('b') });
  });

  it('drains for continue-as-new and carries over exactly what the rest of the run needs', () => {
    const run = core(DAG, { lookAhead: true });
    run.start();
    for (const resolution of [hit('a'), miss('b'), hit('d')]) run.handle({ type: 'resolved', resolution });
    run.handle({ type: 'resolve-done', round: 0 });
    run.handle({ type: 'saved', ok: true }); // the save of a, handed out when it settled
    run.handle({ type: 'saved', ok: true }); // and of d, handed out when that save was done
    run.handle({ type: 'drain' });
    const afterB = run.handle({ type: 'executed', id: 'b', outputs: outputsOf('b'), durationMs: 1, computedBy: 'run-1' });
    expect(afterB.some((c) => c.type === 'resolve' || c.type === 'execute')).toBe(false); // draining: nothing new starts
    expect(afterB.find((c) => c.type === 'save')).toBeDefined();
    expect(run.idle).toBe(false);
    // A save that fails while draining is handed out again at once: the drain waits for it.
    const retried = run.handle({ type: 'saved', ok: false }).find((c) => c.type === 'save');
    expect(retried?.type === 'save' && retried.steps.map((s) => s.id)).toEqual(['b']);
    run.handle({ type: 'saved', ok: true });
    expect(run.idle).toBe(true);
    const snapshot = run.snapshot();
    expect(snapshot.statuses).toEqual({ a: 'cached', b: 'executed', d: 'cached' });
    expect(Object.keys(snapshot.outputs).sort()).toEqual(['b', 'd']); // a's downstream are all settled
    expect(snapshot.keys.b).toBe(keyOf('b'));

    const next = core(DAG, { restore: snapshot, lookAhead: true });
    const result = drive(next, (id) => hit(id));
    expect(result.of('resolve').map((c) => c.ids)).toEqual([['c', 'e']]);
    expect([...result.records.keys()].sort()).toEqual(['c', 'e']); // earlier generations saved the rest
    expect(result.finish?.header.status).toBe('succeeded');
  });
});

/** Handles an event like a driver whose saves always succeed: every save is answered at once. */
const send = (run: RunCore, event: CoreEvent | 'start'): CoreCommand[] => {
  const out: CoreCommand[] = [];
  const queue = event === 'start' ? run.start() : run.handle(event);
  while (queue.length > 0) {
    const command = queue.shift() as CoreCommand;
    out.push(command);
    if (command.type === 'save') queue.push(...run.handle({ type: 'saved', ok: true }));
  }
  return out;
};
const take = <T extends CoreCommand['type']>(commands: CoreCommand[], type: T) =>
  commands.filter((c): c is Extract<CoreCommand, { type: T }> => c.type === type);

/** Starts a run of src → m (a map) to the point where the map has handed out its first chunks. */
function startMap(run: RunCore, resolution: Resolution): CoreCommand[] {
  const first = send(run, 'start');
  const src = take(first, 'resolve')[0] as Extract<CoreCommand, { type: 'resolve' }>;
  const round = [...send(run, { type: 'resolved', resolution: hit('src') }), ...send(run, { type: 'resolve-done', round: src.round })];
  const mapRound = take(round, 'resolve')[0] as Extract<CoreCommand, { type: 'resolve' }>;
  return [...send(run, { type: 'resolved', resolution }), ...send(run, { type: 'resolve-done', round: mapRound.round })];
}

/** The first look-up of map m: every one of its `total` elements to run. */
const firstMapRun = (total: number): Resolution => ({
  kind: 'map',
  id: 'm',
  key: keyOf('m'),
  components: components('m'),
  codes: ['first-run'],
  reason: 'first run',
  rejected: false,
  elements: { total, cached: 0, run: `0-${total - 1}` },
});

describe('the run core with a map', () => {
  const MAP = [node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 0.5, batchSize: 1 } }];
  const mapMiss = (run: string, cached: number): Resolution => ({
    kind: 'map',
    id: 'm',
    key: keyOf('m'),
    components: components('m'),
    codes: ['upstream-changed'],
    reason: 'upstream src.out changed; map over 5 elements',
    rejected: false,
    elements: { total: 5, cached, run, keys: hex('keys') as Digest },
  });

  it('hands out chunks that hold as many concurrency slots as they run at once, saves a running record with the key list, and assembles without the failed', () => {
    const run = core(MAP, { concurrency: 4, elementChunk: () => ({ size: 2, parallel: 2 }) });
    const out = startMap(run, mapMiss('0-4', 0));
    const chunks = take(out, 'execute-elements');
    expect(chunks.map((c) => [c.indices, c.parallel])).toEqual([
      [[0, 1], 2],
      [[2, 3], 2],
    ]);
    const running = take(out, 'save').flatMap((c) => c.steps);
    expect(running.find((s) => s.id === 'm')).toMatchObject({ status: 'running', elements: { total: 5, keys: hex('keys') } });
    const next = send(run, {
      type: 'elements-done',
      id: 'm',
      parallel: 2,
      results: [
        { index: 0, status: 'executed' },
        { index: 1, status: 'cached' },
      ],
    });
    expect(take(next, 'execute-elements').map((c) => c.indices)).toEqual([[4]]);
    send(run, {
      type: 'elements-done',
      id: 'm',
      parallel: 2,
      results: [
        { index: 2, status: 'executed' },
        { index: 3, status: 'failed', error: { code: 'X', message: 'broke' } },
      ],
    });
    const last = send(run, { type: 'elements-done', id: 'm', parallel: 1, results: [{ index: 4, status: 'executed' }] });
    const assemble = take(last, 'assemble')[0];
    expect(assemble?.leftOut).toEqual([3]);
    const done = send(run, { type: 'assembled', id: 'm', outputs: outputsOf('m'), keys: hex('keys') as Digest });
    const record = [...take(done, 'save').flatMap((c) => c.steps), ...take(done, 'finish').flatMap((c) => c.steps)].find((s) => s.id === 'm');
    expect(record).toMatchObject({
      status: 'executed',
      elements: { total: 5, executed: 3, cached: 1, failed: 1, executedIndices: '0,2,4', leftOut: '3', failures: [{ index: 3, code: 'X', message: 'broke' }] },
    });
  });

  it('saves a running map again each tenth of its elements when asked to (Temporal), whatever the clock says', () => {
    const MAP20 = [node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 1, batchSize: 1 } }];
    // A clock that never moves: saves by the second would never come, and by tenths must.
    const run = core(MAP20, { concurrency: 1, now: () => 0, mapProgressSaves: () => 'every-tenth' });
    startMap(run, firstMapRun(20));
    const savedAfter: number[] = [];
    for (let index = 0; index < 19; index++) {
      const out = send(run, { type: 'elements-done', id: 'm', parallel: 1, results: [{ index, status: 'executed' }] });
      if (take(out, 'save').some((c) => c.steps.some((s) => s.id === 'm' && s.status === 'running'))) savedAfter.push(index + 1);
    }
    // Every second element is a tenth of 20: saved after 2, 4, … 18 done; the 20th finishes the map instead.
    expect(savedAfter).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it('asks the rule at each decision, so a run begun saving by the clock takes up tenths midway (an upgrade) and saves by the clock no more', () => {
    const MAP20 = [node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 1, batchSize: 1 } }];
    let clock = 0;
    let upgraded = false;
    const run = core(MAP20, { concurrency: 1, now: () => clock, mapProgressSaves: () => (upgraded ? 'every-tenth' : 'every-second') });
    startMap(run, firstMapRun(20));
    const savedAfter: number[] = [];
    for (let index = 0; index < 19; index++) {
      if (index === 10) upgraded = true;
      clock += 1_500; // by the clock, every element would be saved
      const out = send(run, { type: 'elements-done', id: 'm', parallel: 1, results: [{ index, status: 'executed' }] });
      if (take(out, 'save').some((c) => c.steps.some((s) => s.id === 'm' && s.status === 'running'))) savedAfter.push(index + 1);
    }
    // By the clock up to the 10th; then by tenths: the 11th (its first tenths decision), 12, 14, … 18 of 20.
    expect(savedAfter).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18]);
  });

  it("fails the map with an element's infrastructure failure instead of leaving it out under minSuccessRatio (leave-out: as runs begun before)", () => {
    const results: ElementResult[] = [
      { index: 0, status: 'executed' },
      { index: 1, status: 'failed', error: { code: 'ELEMENT_BROKEN', message: 'its own failure' }, retryable: false },
      {
        index: 2,
        status: 'failed',
        error: { code: 'S3_UNREACHABLE', message: 'cannot reach the endpoint (ECONNRESET)' },
        retryable: true,
        infrastructure: true,
      },
      { index: 3, status: 'executed' },
      { index: 4, status: 'executed' },
    ];
    const strict = core(MAP, { concurrency: 1, elementChunk: () => ({ size: 5, parallel: 1 }) });
    startMap(strict, mapMiss('0-4', 0));
    const failed = send(strict, { type: 'elements-done', id: 'm', parallel: 1, results });
    expect(take(failed, 'assemble')).toEqual([]);
    const record = take(failed, 'finish')[0]?.steps.find((s) => s.id === 'm');
    expect(record).toMatchObject({ status: 'failed', error: { code: 'S3_UNREACHABLE' } });
    expect(record?.error?.message).toContain('element 2 could not run: cannot reach the endpoint (ECONNRESET)');

    const before = core(MAP, { concurrency: 1, elementChunk: () => ({ size: 5, parallel: 1 }), mapInfrastructureFailures: 'leave-out' });
    startMap(before, mapMiss('0-4', 0));
    const assembled = send(before, { type: 'elements-done', id: 'm', parallel: 1, results });
    expect(take(assembled, 'assemble')[0]?.leftOut).toEqual([1, 2]);
  });

  it('fails the map when fewer succeed than minSuccessRatio asks, naming the failures', () => {
    const run = core([node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 1, batchSize: 1 } }], { concurrency: 1 });
    startMap(run, mapMiss('0', 4));
    const out = send(run, { type: 'elements-done', id: 'm', parallel: 1, results: [{ index: 0, status: 'failed', error: { code: 'X', message: 'broke' } }] });
    const record = take(out, 'finish')[0]?.steps.find((s) => s.id === 'm');
    expect(record).toMatchObject({ status: 'failed', error: { code: 'MAP_ELEMENTS_FAILED' }, elements: { total: 5, cached: 4, failed: 1, leftOut: '0' } });
    expect(record?.error?.message).toContain('1 of 5 elements failed; minSuccessRatio 1 needs 5 to succeed');
  });

  /** A run's first generation that drains for continue-as-new once the first chunk of map m (elements 0 and 1) reports `second`. */
  function drainedAfterTwo(second: ElementResult): RunCore {
    const first = core(MAP, { concurrency: 2, elementChunk: () => ({ size: 2, parallel: 2 }) });
    startMap(first, mapMiss('0-4', 0));
    send(first, { type: 'drain' });
    send(first, { type: 'elements-done', id: 'm', parallel: 2, results: [{ index: 0, status: 'executed' }, second] });
    return first;
  }

  it('carries a running map over continue-as-new: what it executed counts as executed, what failed is not retried', () => {
    const first = drainedAfterTwo({ index: 1, status: 'failed', error: { code: 'X', message: 'broke' } });
    expect(first.idle).toBe(true);
    const snapshot = first.snapshot();
    expect(snapshot.maps?.m).toEqual({ executed: '0', failed: '1', failures: [{ index: 1, code: 'X', message: 'broke' }] });

    const second = core(MAP, { concurrency: 2, elementChunk: () => ({ size: 5, parallel: 2 }), restore: snapshot });
    const out = startMap(second, mapMiss('1-4', 1)); // element 0 is now a hit: this run executed it
    expect(take(out, 'execute-elements').map((c) => c.indices)).toEqual([[2, 3, 4]]);
    const last = send(second, { type: 'elements-done', id: 'm', parallel: 2, results: [2, 3, 4].map((index) => ({ index, status: 'executed' as const })) });
    expect(take(last, 'assemble')[0]?.leftOut).toEqual([1]);
    const done = send(second, { type: 'assembled', id: 'm', outputs: outputsOf('m'), keys: hex('keys') as Digest });
    const record = [...take(done, 'save').flatMap((c) => c.steps), ...take(done, 'finish').flatMap((c) => c.steps)].find((s) => s.id === 'm');
    expect(record?.elements).toMatchObject({ total: 5, executed: 4, cached: 0, failed: 1, executedIndices: '0,2-4' });
  });

  it('carries an element that failed for what it ran on over continue-as-new: the next generation fails the map too, not leaves it out', () => {
    const unreachable = { code: 'S3_UNREACHABLE', message: 'cannot reach the endpoint (ECONNRESET)' };
    const first = drainedAfterTwo({ index: 1, status: 'failed', error: unreachable, retryable: true, infrastructure: true });
    const snapshot = first.snapshot();
    expect(snapshot.maps?.m?.unavailable).toEqual({ index: 1, error: unreachable });

    // minSuccessRatio 0.5 would leave one element out; this one it may not.
    const second = core(MAP, { concurrency: 2, elementChunk: () => ({ size: 5, parallel: 2 }), restore: snapshot });
    startMap(second, mapMiss('1-4', 1));
    const last = send(second, { type: 'elements-done', id: 'm', parallel: 2, results: [2, 3, 4].map((index) => ({ index, status: 'executed' as const })) });
    expect(take(last, 'assemble')).toEqual([]);
    const record = take(last, 'finish')[0]?.steps.find((s) => s.id === 'm');
    expect(record).toMatchObject({ status: 'failed', error: { code: 'S3_UNREACHABLE' } });
    expect(record?.error?.message).toContain('element 1 could not run');
  });
});

describe("the run core retries by each step's policy", () => {
  const policy = retryPolicy({ retries: 2, retryDelayMs: 1000 });
  const recordOf = (commands: CoreCommand[], id: string) =>
    [...take(commands, 'save').flatMap((c) => c.steps), ...take(commands, 'finish').flatMap((c) => c.steps)].filter((s) => s.id === id).at(-1);

  /** A one-step run whose step misses; returns the core, a clock the test moves, and the first execute command. */
  function oneStep(retry = policy) {
    let clock = 10_000;
    const run = core([{ ...node('a'), retry }], { now: () => clock });
    const round = take(send(run, 'start'), 'resolve')[0] as Extract<CoreCommand, { type: 'resolve' }>;
    const out = [...send(run, { type: 'resolved', resolution: miss('a') }), ...send(run, { type: 'resolve-done', round: round.round })];
    return { run, advance: (ms: number) => (clock += ms), first: take(out, 'execute')[0] };
  }

  it('tries a retryable failure again after a wait, resuming from its checkpoint with its log, and records the attempts', () => {
    const { run, advance, first } = oneStep();
    expect(first).toMatchObject({ id: 'a', attempt: 1 });
    const failed = send(run, {
      type: 'failed',
      id: 'a',
      error: { code: 'STEP_FAILED', message: 'flaky' },
      retryable: true,
      resume: { step: 8 },
      logs: hex('log1') as Digest,
    });
    const wait = take(failed, 'wait')[0];
    expect(wait?.delayMs).toBeGreaterThanOrEqual(500);
    expect(wait?.delayMs).toBeLessThanOrEqual(1500);
    expect(take(failed, 'notify').map((c) => c.event)).toContainEqual({
      type: 'step-retrying',
      id: 'a',
      attempt: 1,
      delayMs: wait?.delayMs,
      error: { code: 'STEP_FAILED', message: 'flaky' },
    });
    expect(run.progress()[0]).toMatchObject({ status: 'running' });
    // Too early: nothing starts.
    expect(take(send(run, { type: 'tick' }), 'execute')).toEqual([]);
    advance(2000);
    const second = take(send(run, { type: 'tick' }), 'execute')[0];
    expect(second).toMatchObject({ attempt: 2, resume: { step: 8 }, logs: hex('log1') });
    const done = send(run, { type: 'executed', id: 'a', outputs: outputsOf('a'), durationMs: 5, computedBy: 'run-1' });
    expect(recordOf(done, 'a')).toMatchObject({ status: 'executed', attempts: 2, reasonCodes: ['config-changed'] });
  });

  it('fails at once on a failure no retry can change, and after the last attempt on one that keeps failing', () => {
    const final = oneStep();
    const out = send(final.run, { type: 'failed', id: 'a', error: { code: 'INPUT_INVALID', message: 'bad' }, retryable: false });
    expect(take(out, 'wait')).toEqual([]);
    expect(recordOf(out, 'a')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'INPUT_INVALID' } });

    const { run, advance } = oneStep();
    let last: CoreCommand[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      last = send(run, { type: 'failed', id: 'a', error: { code: 'STEP_FAILED', message: `try ${attempt}` }, retryable: true });
      advance(60_000);
      if (attempt < 3) expect(take(send(run, { type: 'tick' }), 'execute')[0]?.attempt).toBe(attempt + 1);
    }
    expect(recordOf(last, 'a')).toMatchObject({ status: 'failed', attempts: 3, error: { message: 'try 3' } });
  });

  it('retries only the codes a policy names, when it names them', () => {
    const { run } = oneStep(retryPolicy({ retries: 3, retryOn: ['RATE_LIMITED'] }));
    expect(take(send(run, { type: 'failed', id: 'a', error: { code: 'STEP_FAILED', message: 'x' }, retryable: true }), 'wait')).toEqual([]);
    const limited = oneStep(retryPolicy({ retries: 3, retryOn: ['RATE_LIMITED'] }));
    expect(take(send(limited.run, { type: 'failed', id: 'a', error: { code: 'RATE_LIMITED', message: 'x' }, retryable: false }), 'wait')).toHaveLength(1);
  });

  it('ends a step waiting for its next attempt with its last failure when the run is cancelled', () => {
    const { run } = oneStep();
    send(run, { type: 'failed', id: 'a', error: { code: 'STEP_FAILED', message: 'flaky' }, retryable: true });
    const out = send(run, { type: 'cancel' });
    expect(recordOf(out, 'a')).toMatchObject({ status: 'failed', attempts: 1, error: { message: 'flaky' } });
    expect(take(out, 'finish')[0]?.header.status).toBe('cancelled');
  });

  it('carries a step between attempts over continue-as-new: the next generation goes on counting', () => {
    const { run } = oneStep();
    send(run, { type: 'drain' });
    send(run, { type: 'failed', id: 'a', error: { code: 'STEP_FAILED', message: 'flaky' }, retryable: true, resume: { step: 3 } });
    expect(run.idle).toBe(true);
    const snapshot = run.snapshot();
    expect(snapshot.retrying).toEqual({ a: { attempts: 1, resume: { step: 3 } } });
    const next = core([{ ...node('a'), retry: policy }], { restore: snapshot });
    const round = take(send(next, 'start'), 'resolve')[0] as Extract<CoreCommand, { type: 'resolve' }>;
    const out = [...send(next, { type: 'resolved', resolution: miss('a') }), ...send(next, { type: 'resolve-done', round: round.round })];
    expect(take(out, 'execute')[0]).toMatchObject({ attempt: 2, resume: { step: 3 } });
  });

  it('carries a retry that fell due while draining (queued, not started) with its count too', () => {
    const { run, advance } = oneStep();
    send(run, { type: 'failed', id: 'a', error: { code: 'STEP_FAILED', message: 'flaky' }, retryable: true });
    send(run, { type: 'drain' });
    advance(60_000);
    expect(take(send(run, { type: 'tick' }), 'execute')).toEqual([]); // a drain starts nothing new
    expect(run.idle).toBe(true);
    expect(run.snapshot().retrying).toEqual({ a: { attempts: 1 } });
  });

  it('retries a map element by the same policy, on its own, and the record says which elements took more attempts', () => {
    let clock = 10_000;
    const run = core([node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 0.5, batchSize: 1 }, retry: retryPolicy({ retries: 1 }) }], {
      now: () => clock,
      elementChunk: () => ({ size: 3, parallel: 3 }),
    });
    const started = startMap(run, firstMapRun(3));
    const chunk = take(started, 'execute-elements')[0];
    expect(chunk).toMatchObject({ indices: [0, 1, 2] });
    expect(chunk?.attempts).toBeUndefined();
    const out = send(run, {
      type: 'elements-done',
      id: 'm',
      parallel: 3,
      results: [
        { index: 0, status: 'executed' },
        { index: 1, status: 'failed', error: { code: 'STEP_FAILED', message: 'flaky' }, retryable: true },
        { index: 2, status: 'failed', error: { code: 'ELEMENT_BROKEN', message: 'broken' }, retryable: false },
      ],
    });
    expect(take(out, 'wait')).toHaveLength(1);
    clock += 60_000;
    const retry = take(send(run, { type: 'tick' }), 'execute-elements')[0];
    expect(retry).toMatchObject({ indices: [1], attempts: [2] });
    const last = send(run, { type: 'elements-done', id: 'm', parallel: 1, results: [{ index: 1, status: 'executed' }] });
    expect(take(last, 'assemble')[0]?.leftOut).toEqual([2]);
    const done = send(run, { type: 'assembled', id: 'm', outputs: outputsOf('m'), keys: hex('keys') as Digest });
    expect(recordOf(done, 'm')?.elements).toMatchObject({ executed: 2, failed: 1, retried: { '2': '1' }, failures: [{ index: 2, code: 'ELEMENT_BROKEN' }] });
  });

  it('carries the attempts of a map element between attempts over continue-as-new, whether its retry was due yet or not', () => {
    let clock = 10_000;
    const run = core([node('src'), { ...node('m', ['src']), map: { minSuccessRatio: 0.5, batchSize: 1 }, retry: retryPolicy({ retries: 2 }) }], {
      now: () => clock,
      elementChunk: () => ({ size: 2, parallel: 2 }),
    });
    startMap(run, firstMapRun(2));
    send(run, { type: 'drain' });
    const failed = (index: number) => ({ index, status: 'failed' as const, error: { code: 'STEP_FAILED', message: 'flaky' }, retryable: true });
    send(run, { type: 'elements-done', id: 'm', parallel: 2, results: [failed(0), failed(1)] });
    clock += 60_000;
    send(run, { type: 'tick' }); // both due now, back in the hand-out, which a drain does not start
    expect(run.idle).toBe(true);
    expect(run.snapshot().maps?.m?.attempts).toEqual({ '1': '0-1' });
  });
});
