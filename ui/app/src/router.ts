import { useEffect, useState } from 'react';

/** The app's pages, parsed from the address bar: each view has a stable URL. */
export type Route =
  { page: 'runs' } | { page: 'run'; runId: string; stepId: string | null } | { page: 'compare'; a: string; b: string } | { page: 'not-found'; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decodeURIComponent(p));
  if (parts.length === 0) return { page: 'runs' };
  if (parts[0] === 'runs' && parts.length === 2) return { page: 'run', runId: parts[1]!, stepId: null };
  if (parts[0] === 'runs' && parts.length === 4 && parts[2] === 'steps') return { page: 'run', runId: parts[1]!, stepId: parts[3]! };
  if (parts[0] === 'compare' && parts.length === 3) return { page: 'compare', a: parts[1]!, b: parts[2]! };
  return { page: 'not-found', path: pathname };
}

export const paths = {
  runs: () => '/',
  run: (runId: string) => `/runs/${encodeURIComponent(runId)}`,
  step: (runId: string, stepId: string) => `/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(stepId)}`,
  compare: (a: string, b: string) => `/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`,
};

const CHANGE = 'flywheel:navigate';

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace === true) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current location, re-read on back/forward and on navigate(). */
export function useLocation(): { pathname: string; search: string } {
  const read = () => ({ pathname: window.location.pathname, search: window.location.search });
  const [location, setLocation] = useState(read);
  useEffect(() => {
    const update = () => setLocation(read());
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return location;
}
