import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, json, type StepContext } from '../../index.js';
import { LocalStore } from '../../cache/local-store.js';
import { executeStep } from '../../engine/execute/execute-step.js';
import { validatePipeline } from '../../engine/validate/validate.js';
import { memoryLogger } from '../support/in-process.js';
import { tempDir } from '../support/temp-dir.js';

// A Temporal worker frozen past its heartbeat timeout wakes to find its activity cancelled (NOT_FOUND)
// while a map chunk's elements are about to start. An element whose step began with the signal already
// aborted rejected with nobody listening, and the unhandled rejection ended the worker process: every
// step it ran was lost with it (found by the chaos soak's freezes).

let unhandled: unknown[] = [];
const collect = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', collect);
});
afterEach(() => void process.off('unhandledRejection', collect));

async function executeWith(run: (ctx: StepContext<Record<string, never>, never, never>) => Promise<unknown>, signal: AbortSignal) {
  const step = defineStep({ id: 'sleeper', version: 1, outputs: { out: json(z.number()) }, run: run as never });
  const [node] = validatePipeline(definePipeline({ name: 'cancelled', build: (p) => void p.add(step, { id: 'only' }) })).nodes;
  const store = new LocalStore(join(await tempDir('flywheel-cancelled'), 'store'));
  const execution = executeStep(node!, {
    store,
    runId: 'cancelled-run',
    log: memoryLogger('warn').logger,
    signal,
    upstreamOutputs: () => undefined,
    upstreamKey: () => undefined,
  });
  const settled = await execution.then(
    () => undefined,
    (error: unknown) => error,
  );
  await sleep(50); // a rejection nobody handles is reported within a few ticks
  return settled;
}

describe('a step cancelled as it starts', () => {
  it('does not start when its signal is already aborted, and fails as cancelled', async () => {
    let started = 0;
    const error = await executeWith(
      async ({ signal }) => {
        started++;
        await sleep(10, undefined, { signal });
        return { out: 1 };
      },
      AbortSignal.abort(new Error('the attempt was timed out while the worker was frozen')),
    );
    expect(error).toMatchObject({ code: 'STEP_CANCELLED' });
    expect(started).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('leaves no unhandled rejection when it is cancelled before its first await', async () => {
    const controller = new AbortController();
    const error = await executeWith(async ({ signal }) => {
      controller.abort(new Error('cancelled from outside'));
      await sleep(10, undefined, { signal });
      return { out: 1 };
    }, controller.signal);
    expect(error).toMatchObject({ code: 'STEP_CANCELLED' });
    expect(unhandled).toEqual([]);
  });
});
