import { useEffect, useState } from 'react';
import { api, getJson, type RunRecord } from './api';

export type RunState = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; run: RunRecord; live: boolean };

/**
 * A run's record; while it runs, kept current from the server's event stream (`event: run` carries the
 * whole record, `event: end` closes it), so the page re-renders without a reload.
 */
export function useRun(runId: string): RunState {
  const [state, setState] = useState<RunState>({ state: 'loading' });
  useEffect(() => {
    let closed = false;
    let source: EventSource | null = null;
    setState({ state: 'loading' });
    getJson<{ run: RunRecord }>(api.run(runId)).then(
      ({ run }) => {
        if (closed) return;
        setState({ state: 'ok', run, live: run.status === 'running' });
        if (run.status !== 'running') return;
        source = new EventSource(api.events(runId));
        source.addEventListener('run', (event) => {
          const next = JSON.parse((event as MessageEvent<string>).data) as RunRecord;
          setState({ state: 'ok', run: next, live: next.status === 'running' });
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
