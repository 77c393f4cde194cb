import { useEffect, useRef, useState } from 'react';
import { api, getJson, type LogsPage } from './api';

/** The step's captured output, read from the store in pages from `offset`; polled while the step runs. */
export function StepLogs({ runId, stepId, running }: { runId: string; stepId: string; running: boolean }) {
  const [text, setText] = useState('');
  const [from, setFrom] = useState<string | undefined>(undefined);
  const [state, setState] = useState<'loading' | 'done' | 'following' | 'none' | string>('loading');
  const runningRef = useRef(running);
  runningRef.current = running;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setText('');
    setFrom(undefined);
    setState('loading');
    let source: LogsPage['source'];
    const read = (offset: number, after?: string) => {
      getJson<LogsPage>(api.logs(runId, stepId, offset, after)).then(
        (page) => {
          if (stopped) return;
          // The step ended: its stored log replaces the live one, whose offsets do not carry over.
          if ((source === 'live' || source === 'segments') && page.source === 'blob' && offset > 0) {
            source = page.source;
            setText('');
            return read(0);
          }
          source = page.source;
          setFrom(page.from);
          if (page.text !== '') setText((t) => t + page.text);
          if (page.done && page.text === '' && offset === 0) return setState('none');
          if (page.done) return setState('done');
          if (page.text === '' && !runningRef.current) return setState('done');
          setState('following');
          timer = setTimeout(() => read(page.next, page.cursor), page.text === '' ? 1000 : 0);
        },
        (e: unknown) => {
          if (stopped) return;
          const message = e instanceof Error ? e.message : String(e);
          setState(message.startsWith('404') ? 'none' : message);
        },
      );
    };
    read(0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [runId, stepId]);

  return (
    <div className="logs">
      {from !== undefined && <p className="muted">The log of run {from}, which computed this result.</p>}
      {state === 'none' ? (
        <p className="muted">No logs captured for this step.</p>
      ) : (
        <pre className="log-text" data-state={state}>
          {text}
          {state === 'following' && <span className="live">▍</span>}
        </pre>
      )}
      {!['loading', 'done', 'following', 'none'].includes(state) && <p className="error">logs: {state}</p>}
    </div>
  );
}
