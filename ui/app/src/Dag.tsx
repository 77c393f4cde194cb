import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { RunRecord, StepCost } from './api';
import { DagNode } from './DagNode';
import { layoutDag } from './layout';

/** The smallest scale a graph starts fitted at: below it, labels are too small to read. */
const MIN_FIT_SCALE = 0.4;

/** The run's steps as a graph: laid out by dagre, drawn as SVG. The layout is redone only when the graph's shape changes. */
export function Dag({
  run,
  costs,
  selected,
  onSelect,
}: {
  run: RunRecord;
  costs: Record<string, StepCost>;
  selected: string | null;
  onSelect: (stepId: string) => void;
}) {
  const [fit, setFit] = useState(false);
  const shape = run.steps.map((s) => `${s.id}<${(s.upstream ?? []).join(',')}`).join(';');
  const layout = useMemo(() => layoutDag(run.steps), [shape]);
  const box = useRef<HTMLDivElement>(null);
  // A graph a little wider than its box starts fitted, so no part of it hides off-screen; one that would
  // shrink past legibility starts at actual size, to scroll.
  useLayoutEffect(() => {
    const width = box.current?.clientWidth ?? 0;
    setFit(width > 0 && layout.width > width && width / layout.width >= MIN_FIT_SCALE);
  }, [layout]);
  return (
    <div className={fit ? 'dag fit' : 'dag'} ref={box}>
      <div className="dag-tools">
        <button type="button" onClick={() => setFit(!fit)}>
          {fit ? 'actual size' : 'fit'}
        </button>
        <span className="legend">
          <span className="key status-executed">executed</span>
          <span className="key status-cached">cached</span>
          <span className="key status-failed">failed</span>
          <span className="key status-running">running</span>
          <span className="key status-skipped">skipped / pending</span>
          <span className="key declined">declined</span>
        </span>
      </div>
      <svg
        className="dag-svg"
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        width={fit ? '100%' : layout.width}
        height={fit ? undefined : layout.height}
        role="img"
        aria-label={`DAG of run ${run.runId}`}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" className="arrowhead" />
          </marker>
        </defs>
        {layout.edges.map((edge) => (
          <path
            key={`${edge.from}->${edge.to}`}
            className="edge"
            d={edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ')}
            markerEnd="url(#arrow)"
          />
        ))}
        {run.steps.map((step) => {
          const at = layout.nodes.get(step.id);
          return at === undefined ? null : (
            <DagNode key={step.id} step={step} cost={costs[step.id]} x={at.x} y={at.y} selected={step.id === selected} onSelect={onSelect} />
          );
        })}
      </svg>
    </div>
  );
}
