import { ComparePage } from './ComparePage';
import { Link } from './Link';
import { RunPage } from './RunPage';
import { RunsList } from './RunsList';
import { parseRoute, paths, useLocation } from './router';

export function App() {
  const location = useLocation();
  const route = parseRoute(location.pathname);
  return (
    <div className="app">
      <header className="topbar">
        <Link to={paths.runs()} className="brand">
          Flywheel
        </Link>
        <span className="crumbs">
          {route.page === 'run' && (
            <>
              / <Link to={paths.run(route.runId)}>{route.runId}</Link>
              {route.stepId !== null && <> / {route.stepId}</>}
            </>
          )}
          {route.page === 'compare' && (
            <>
              / compare <Link to={paths.run(route.a)}>{route.a}</Link> → <Link to={paths.run(route.b)}>{route.b}</Link>
            </>
          )}
        </span>
      </header>
      <main>
        {route.page === 'runs' && <RunsList search={location.search} />}
        {route.page === 'run' && <RunPage runId={route.runId} stepId={route.stepId} />}
        {route.page === 'compare' && <ComparePage a={route.a} b={route.b} />}
        {route.page === 'not-found' && <p className="error">No page at {route.path}.</p>}
      </main>
    </div>
  );
}
