import { useEffect, useState } from 'react';
import { api, getJson, type RunCost, type RunRecord, type RunResponse } from './api';

export type RunState = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; run: RunRecord; cost: RunCost | null; live: boolean };

/**
 * A run's record and cost; while it runs, kept current from the server's event stream (`event: cost`
 * then `event: run` carry them whole, `event: end` closes it), so the page re-renders without a reload.
 */
export function useRun(runId: string): RunState {
  const [state, setState] = useState<RunState>({ state: 'loading' });
  useEffect(() => {
    let closed = false;
    let source: EventSource | null = null;
    setState({ state: 'loading' });
    getJson<RunResponse>(api.run(runId)).then(
      ({ run, cost }) => {
        if (closed) return;
        setState({ state: 'ok', run, cost, live: run.status === 'running' });
        if (run.status !== 'running') return;
        let nextCost = cost;
        source = new EventSource(api.events(runId));
        source.addEventListener('cost', (event) => {
          nextCost = JSON.parse((event as MessageEvent<string>).data) as RunCost | null;
        });
        source.addEventListener('run', (event) => {
          const next = JSON.parse((event as MessageEvent<string>).data) as RunRecord;
          setState({ state: 'ok', run: next, cost: nextCost, live: next.status === 'running' });
        });
        source.addEventListener('end', () => {
          source?.close();
          setState((s) => (s.state === 'ok' ? { ...s, live: false } : s));
        });
      },
      (e: unknown) => !closed && setState({ state: 'error', error: e instanceof Error ? e.message : String(e) }),
    );
    return () => {
      closed = true;
      source?.close();
    };
  }, [runId]);
  return state;
}
