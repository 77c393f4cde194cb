import { shownStatus } from '../cache/process-alive.js';
import type { RunRecord } from '../cache/records.js';

/** The `--json` document: stable fields for scripts and CI. */
export function runSummary(run: RunRecord): unknown {
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    status: shownStatus(run),
    durationMs: run.durationMs,
    steps: run.steps.map((s) => ({
      id: s.id,
      status: s.status,
      cacheKey: s.cacheKey ?? null,
      reason: s.reason,
      reasonCodes: s.reasonCodes,
      outputs: Object.fromEntries(Object.entries(s.outputs).map(([name, o]) => [name, o.digest])),
      durationMs: s.durationMs ?? 0,
      ...(s.savedMs === undefined ? {} : { savedMs: s.savedMs }),
      ...(s.error === undefined ? {} : { error: s.error }),
      ...(s.warning === undefined ? {} : { warning: s.warning }),
    })),
  };
}
