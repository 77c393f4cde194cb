import { useEffect, useState } from 'react';
import { getJson } from './api';

export type Loaded<T> = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; data: T };

/** GETs `url` as JSON whenever it changes; the previous request is abandoned. `null` fetches nothing. */
export function useJson<T>(url: string | null): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  useEffect(() => {
    if (url === null) return;
    const abort = new AbortController();
    setLoaded({ state: 'loading' });
    getJson<T>(url, abort.signal).then(
      (data) => setLoaded({ state: 'ok', data }),
      (error: unknown) => {
        if (!abort.signal.aborted) setLoaded({ state: 'error', error: error instanceof Error ? error.message : String(error) });
      },
    );
    return () => abort.abort();
  }, [url]);
  return loaded;
}
