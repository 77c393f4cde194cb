import { describe, expect, it } from 'vitest';
import { executionsBeyondFaults, recordsWithoutExecution, type ExecutionEvent, type FaultRecord } from '../../bench/soak/soak-invariants.js';

const start = (at: number, what: string): ExecutionEvent => ({ at, phase: 'start', what });
const end = (at: number, what: string): ExecutionEvent => ({ at, phase: 'end', what });
const fault = (at: number, endAt = at): FaultRecord => ({ at, atMs: at, endAt, kind: 'kill-cpu-worker', detail: 'pid 1' });

describe("the soak's execution count (the steps' own log, not the engine's)", () => {
  it('counts an execution after a fault that hit the one before it as extra but explained', () => {
    const events = [start(100, 'v1/train'), start(900, 'v1/train'), end(1500, 'v1/train'), start(120, 'item-3:ab'), end(140, 'item-3:ab')];
    const figures = executionsBeyondFaults(events, [fault(500)]);
    expect(figures).toMatchObject({ total: 3, extra: 1, unexplained: [] });
    expect(figures.byStep).toEqual({ train: { executions: 2, extra: 1 }, 'score (map element)': { executions: 1, extra: 0 } });
    // 800 ms interrupted + 600 ms finished + 20 ms: the second run is 600 of 1,420 ms.
    expect(figures.extraShareOfCompute).toBeCloseTo(600 / 1420, 6);
  });

  it('reports work executed twice with no fault in between: exactly-once broken', () => {
    const figures = executionsBeyondFaults(
      [start(100, 'v2/source'), end(200, 'v2/source'), start(300, 'v2/source'), end(400, 'v2/source')],
      [fault(50), fault(450)],
    );
    expect(figures.extra).toBe(1);
    expect(figures.unexplained).toHaveLength(1);
    expect(figures.unexplained[0]).toMatch(/^v2\/source executed again at .* with no fault since its execution at /);
  });

  it('counts a fault still under way when an execution began (a disk still full, a worker still frozen) as hitting it', () => {
    const events = [start(1000, 'v4/source'), start(1200, 'v4/source'), end(1300, 'v4/source')];
    // The disk filled at 900 and was freed at 1100: the first execution failed on it.
    expect(executionsBeyondFaults(events, [fault(900, 1100)]).unexplained).toEqual([]);
    expect(executionsBeyondFaults(events, [fault(900, 950)]).unexplained).toHaveLength(1);
  });

  it('leaves out work that never completed (an element that always fails)', () => {
    const figures = executionsBeyondFaults([start(100, 'item-5:cd'), start(200, 'item-5:cd'), start(300, 'item-5:cd')], []);
    expect(figures).toMatchObject({ total: 0, extra: 0, unexplained: [] });
  });

  it("finds a record that says a step executed when the steps' log has no execution of it (the map's shared elements aside)", () => {
    const events = [start(100, 'v3/source'), end(150, 'v3/source'), start(200, 'v3/train'), end(900, 'v3/train')];
    const steps = [
      { id: 'source', status: 'executed' },
      { id: 'train', status: 'executed' },
      { id: 'report', status: 'executed' },
      { id: 'link-1', status: 'cached' },
      { id: 'score', status: 'executed' },
    ];
    expect(recordsWithoutExecution([{ runId: 'r1', variant: 3, steps }], events)).toEqual([
      "run r1 (variant 3): show says report executed, but its steps' log has no execution of v3/report",
    ]);
    expect(recordsWithoutExecution([{ runId: 'r2', variant: 3, steps: steps.slice(0, 2) }], events)).toEqual([]);
  });
});
