import { describe, expect, it } from 'vitest';
import { executionsBeyondFaults, type ExecutionEvent, type FaultRecord } from '../../bench/soak/soak-invariants.js';

const start = (at: number, what: string): ExecutionEvent => ({ at, phase: 'start', what });
const end = (at: number, what: string): ExecutionEvent => ({ at, phase: 'end', what });
const fault = (at: number): FaultRecord => ({ at, atMs: at, kind: 'kill-cpu-worker', detail: 'pid 1' });

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

  it('leaves out work that never completed (an element that always fails)', () => {
    const figures = executionsBeyondFaults([start(100, 'item-5:cd'), start(200, 'item-5:cd'), start(300, 'item-5:cd')], []);
    expect(figures).toMatchObject({ total: 0, extra: 0, unexplained: [] });
  });
});
