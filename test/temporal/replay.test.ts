import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../support/cli.js';
import { replayHistories } from '../support/temporal.js';

// Recorded by scripts/record-histories.ts from real runs of a release. If this fails, a workflow change would
// break runs that are in progress when workers are upgraded: guard the change with `patched()` (decided
// once per run, as workflows/element-chunks.ts does) instead of re-recording. test/temporal/upgrade.test.ts
// replaces a previous release's workers mid-run to show it end to end.
describe('workflow determinism', () => {
  it('replays recorded histories of a pipeline run and a step execution against the built bundle', async () => {
    const histories = JSON.parse(await readFile(join(FIXTURES, 'histories', 'gpu-diamond.json'), 'utf8')) as Array<{ workflowId: string; history: unknown }>;
    expect(histories.map((h) => h.workflowId.split('-').slice(0, 2).join('-'))).toEqual(['flywheel-run', 'flywheel-step']);
    // The recorded run takes both paths: misses executed directly, and one wait through the shared execution.
    const scheduled = JSON.stringify(histories[0]?.history).match(/"activityType":\{"name":"(\w+)"\}/g) ?? [];
    expect(new Set(scheduled.map((m) => m.replace(/.*"name":"(\w+)".*/, '$1')))).toEqual(new Set(['executeStep', 'runStep']));
    await replayHistories(histories);
  });

  it('replays a recorded run whose failed attempts the run core retried after durable timers', async () => {
    const histories = JSON.parse(await readFile(join(FIXTURES, 'histories', 'parity.json'), 'utf8')) as Array<{ workflowId: string; history: unknown }>;
    const recorded = JSON.stringify(histories[0]?.history);
    // Failed attempts (activity failures the core retries), the waits between them, and the map's chunks.
    expect(recorded).toContain('"timerStartedEventAttributes"');
    expect(recorded).toContain('"activityTaskFailedEventAttributes"');
    expect(recorded).toContain('"name":"executeElements"');
    await replayHistories(histories);
  });

  it('replays a recorded run whose cpu map went out in growing chunks (the adaptive-element-chunks patch)', async () => {
    const histories = JSON.parse(await readFile(join(FIXTURES, 'histories', 'map-chunks.json'), 'utf8')) as Array<{ workflowId: string; history: unknown }>;
    const recorded = JSON.stringify(histories[0]?.history);
    expect(recorded).toContain('"markerName":"core_patch"');
    // 600 elements in fewer activities than chunks of 50 would take.
    const chunks = recorded.match(/"name":"executeElements"/g) ?? [];
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.length).toBeLessThan(600 / 50);
    await replayHistories(histories);
  });

  it('replays a recorded chain whose look-up rounds its steps answered ahead (the look-ahead-with-outcome patch)', async () => {
    const histories = JSON.parse(await readFile(join(FIXTURES, 'histories', 'look-ahead.json'), 'utf8')) as Array<{ workflowId: string; history: unknown }>;
    const recorded = JSON.stringify(histories[0]?.history);
    // 41 steps executed, and only the first round was an activity of its own.
    expect(recorded.match(/"name":"executeStep"/g)).toHaveLength(41);
    expect(recorded.match(/"name":"resolveSteps"/g)).toHaveLength(1);
    await replayHistories(histories);
  });

  it('detects a history the workflow code could not have produced', async () => {
    const [pipeline] = JSON.parse(await readFile(join(FIXTURES, 'histories', 'gpu-diamond.json'), 'utf8')) as Array<{
      workflowId: string;
      history: { events: Array<{ activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }> };
    }>;
    const tampered = structuredClone(pipeline);
    const scheduled = tampered?.history.events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeStep');
    expect(scheduled).toBeDefined();
    (scheduled?.activityTaskScheduledEventAttributes?.activityType as { name: string }).name = 'somethingElse';
    const replayed = replayHistories([tampered as { workflowId: string; history: unknown }]);
    await expect(replayed).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation|mismatch/);
    // The failure says how to make such a change without breaking runs in flight.
    await expect(replayed).rejects.toThrow(/patched\('<change-id>'\) once per run/);
  });
});
