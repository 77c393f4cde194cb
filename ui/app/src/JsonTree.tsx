import { useState } from 'react';

const PAGE = 200;

function summary(value: unknown): string {
  if (Array.isArray(value)) return `[${value.length}]`;
  if (value !== null && typeof value === 'object') return `{${Object.keys(value).length}}`;
  return '';
}

/** A collapsible JSON value: objects and arrays open to `open` levels; long ones show 200 children at a time. */
export function JsonTree({ value, name, open = 2 }: { value: unknown; name?: string; open?: number }) {
  const [expanded, setExpanded] = useState(open > 0);
  const [shown, setShown] = useState(PAGE);
  const label = name === undefined ? null : <span className="json-key">{name}: </span>;
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-leaf">
        {label}
        <span className={`json-${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>
      </div>
    );
  }
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  return (
    <div className="json-node">
      <button type="button" className="json-toggle" onClick={() => setExpanded(!expanded)} aria-expanded={expanded}>
        {expanded ? '▾' : '▸'}
      </button>
      {label}
      <span className="muted">{summary(value)}</span>
      {expanded && (
        <div className="json-children">
          {entries.slice(0, shown).map(([k, v]) => (
            <JsonTree key={k} name={k} value={v} open={open - 1} />
          ))}
          {entries.length > shown && (
            <button type="button" className="link-button" onClick={() => setShown(shown + PAGE)}>
              {entries.length - shown} more…
            </button>
          )}
        </div>
      )}
    </div>
  );
}
