import type { MouseEvent } from 'react';
import type { StepCost, StepRunRecord } from './api';
import { duration } from './format';
import { NODE_HEIGHT, NODE_WIDTH } from './layout';
import { navigate, paths } from './router';

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** What a node's third line says: where a cached result came from, why a step declined to act or ran, or how it failed. */
function detail(step: StepRunRecord): string {
  if (step.status === 'failed') return step.error === undefined ? step.reason : `${step.error.code}: ${step.error.message}`;
  if (step.declined !== undefined && step.status === 'executed') return `declined: ${step.declined}`;
  if (step.status === 'cached' && step.computedBy !== undefined) return '';
  return step.reason;
}

function elementsLine(step: StepRunRecord): string | null {
  const e = step.elements;
  if (e === undefined) return null;
  const parts = [`${e.executed} executed`, `${e.cached} cached`];
  if (e.failed > 0) parts.push(`${e.failed} failed`);
  return `${e.total} elements: ${parts.join(', ')}`;
}

/** How many bold characters of a cost figure fit after `text` on a node's second line (12px: about 6.2px a character, 7.3 bold). */
const figureRoom = (text: string) => Math.floor((NODE_WIDTH - 24 - (text.length + 3) * 6.2) / 7.3);

/**
 * The node's cost figure: what a cached step's result had cost, else what the step spent; only where it is
 * worth the room, and in the room left on the line (`48.0 GPU-h` without its GPU type, else clipped).
 */
function costFigure(step: StepRunRecord, cost: StepCost | undefined, room: number): string {
  const side = step.status === 'cached' ? cost?.saved : (cost?.spent ?? cost?.saved);
  if (side?.notable !== true) return '';
  if (side.short.length <= room) return side.short;
  const untyped = side.short.replace(/ GPU-h [^,]+/, ' GPU-h');
  return untyped.length <= room ? untyped : room >= 8 ? clip(untyped, room) : '';
}

/** A pill's width for its text (11px bold). */
const pillWidth = (text: string) => text.length * 6.4 + 12;

/** One step drawn in SVG at its layout centre; a click opens its panel. A step that declined to act has an amber frame and pill. */
export function DagNode({
  step,
  cost,
  x,
  y,
  selected,
  onSelect,
}: {
  step: StepRunRecord;
  cost: StepCost | undefined;
  x: number;
  y: number;
  selected: boolean;
  onSelect: (id: string) => void;
}) {
  const left = x - NODE_WIDTH / 2;
  const top = y - NODE_HEIGHT / 2;
  const time = step.status === 'cached' ? (step.savedMs === undefined ? '' : `saved ${duration(step.savedMs)}`) : duration(step.durationMs);
  const elements = elementsLine(step);
  const sub = [
    clip(step.step, 30),
    time,
    step.attempts !== undefined && step.attempts > 1 ? `${step.attempts} attempts` : '',
    step.status === 'cached' && step.elements !== undefined ? `${step.elements.total} elements` : '',
  ]
    .filter((part) => part !== '')
    .join(' · ');
  const figure = costFigure(step, cost, figureRoom(sub));
  const text = detail(step);
  const declined = step.declined !== undefined;
  const statusWidth = pillWidth(step.status);
  const openSource = (event: MouseEvent) => {
    event.stopPropagation();
    if (event.button !== 0 || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    navigate(paths.run(step.computedBy!));
  };
  let chipX = 0;
  return (
    <g
      className={`node status-${step.status}${declined ? ' declined' : ''}${selected ? ' selected' : ''}`}
      transform={`translate(${left} ${top})`}
      onClick={() => onSelect(step.id)}
      data-step={step.id}
      data-status={step.status}
      {...(declined ? { 'data-declined': step.declined } : {})}
      role="button"
      aria-label={`step ${step.id}: ${step.status}${declined ? ', declined' : ''}`}
    >
      <title>{`${step.id} (${step.step}) — ${step.status}${declined ? ` · declined: ${step.declined}` : ''}\n${step.reason}`}</title>
      <rect className="node-box" width={NODE_WIDTH} height={NODE_HEIGHT} rx={8} />
      <rect className="node-stripe" width={6} height={NODE_HEIGHT} rx={3} />
      <text className="node-id" x={16} y={22}>
        {clip(step.id, declined ? 17 : 26)}
      </text>
      <g transform={`translate(${NODE_WIDTH - 10} 10)`}>
        <rect className="node-status" x={-statusWidth} width={statusWidth} height={17} rx={8} />
        <text className="node-status-text" x={-6} y={12.5} textAnchor="end">
          {step.status}
        </text>
        {declined && (
          <g className="node-declined" transform={`translate(${-statusWidth - 4} 0)`}>
            <rect x={-pillWidth('declined')} width={pillWidth('declined')} height={17} rx={8} />
            <text x={-6} y={12.5} textAnchor="end">
              declined
            </text>
          </g>
        )}
      </g>
      <text className="node-sub" x={16} y={40}>
        {sub}
        {figure !== '' && (
          <>
            {' · '}
            <tspan className="node-cost">{figure}</tspan>
          </>
        )}
      </text>
      {step.computedBy !== undefined && step.status === 'cached' ? (
        <>
          <text className="node-detail" x={16} y={58}>
            reused from run
          </text>
          <text x={16} y={78}>
            <a href={paths.run(step.computedBy)} onClick={openSource} className="node-link">
              <tspan>{clip(step.computedBy, 36)}</tspan>
            </a>
          </text>
        </>
      ) : (
        <>
          <text className={declined ? 'node-detail node-declined-reason' : 'node-detail'} x={16} y={58}>
            {clip(text, 42)}
          </text>
          {elements !== null ? (
            <text className="node-elements" x={16} y={80}>
              {clip(elements, 50)}
            </text>
          ) : (
            <g transform="translate(16 68)">
              {step.reasonCodes.slice(0, 3).map((code) => {
                const width = code.length * 6.2 + 10;
                const at = chipX;
                chipX += width + 4;
                return at + width > NODE_WIDTH - 24 ? null : (
                  <g key={code} transform={`translate(${at} 0)`} className={`node-chip chip-${code}`}>
                    <rect width={width} height={16} rx={4} />
                    <text x={5} y={11.5}>
                      {code}
                    </text>
                  </g>
                );
              })}
            </g>
          )}
        </>
      )}
    </g>
  );
}
