import { useState } from 'react';
import { api, type OutputRecord } from './api';
import { bytes, shortDigest } from './format';
import { DirView } from './DirView';
import { JsonPreview } from './JsonPreview';
import { PagedRows } from './PagedRows';
import { TextPreview } from './TextPreview';

type Kind = 'json' | 'jsonl' | 'csv' | 'image' | 'html' | 'dir' | 'text';

/** JSON above this is offered for download rather than parsed in the page. */
const JSON_TREE_LIMIT = 16 * 1024 * 1024;

export function previewKind(output: OutputRecord): Kind {
  if (output.kind === 'dir') return 'dir';
  if (output.kind === 'json') return 'json';
  const ext = (output.fileName ?? '').toLowerCase().split('.').pop() ?? '';
  if (ext === 'json') return 'json';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (['png', 'jpg', 'jpeg', 'gif', 'webp', 'svg', 'avif'].includes(ext)) return 'image';
  if (ext === 'html' || ext === 'htm') return 'html';
  return 'text';
}

/** One output of a step: its kind, size and digest, a download link, and a preview chosen by its kind and file name. */
export function OutputPreview({ name, output }: { name: string; output: OutputRecord }) {
  const kind = previewKind(output);
  const fileName = output.fileName ?? (kind === 'json' ? `${name}.json` : name);
  const [open, setOpen] = useState(true);
  const raw = api.blob(output.digest, 'raw', { name: fileName });
  return (
    <div className="output" data-output={name} data-preview={kind}>
      <div className="output-head">
        <button type="button" className="json-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
          {open ? '▾' : '▸'}
        </button>
        <strong>{name}</strong>
        <span className="chip">{kind}</span>
        <span className="muted">
          {fileName} · {bytes(output.size)} · <span className="mono">{shortDigest(output.digest)}</span>
        </span>
        {output.kind !== 'dir' && (
          <a className="download" href={api.blob(output.digest, 'raw', { name: fileName, download: true })} download={fileName}>
            download
          </a>
        )}
      </div>
      {open && (
        <div className="output-body">
          {kind === 'json' &&
            (output.size > JSON_TREE_LIMIT ? (
              <p className="muted">Too large to show as a tree; download it.</p>
            ) : (
              <JsonPreview digest={output.digest} name={fileName} />
            ))}
          {kind === 'jsonl' && <PagedRows digest={output.digest} name={fileName} view="lines" />}
          {kind === 'csv' && <PagedRows digest={output.digest} name={fileName} view="table" />}
          {kind === 'text' && <TextPreview digest={output.digest} name={fileName} />}
          {kind === 'image' && <img className="image-preview" src={raw} alt={fileName} />}
          {/* An empty sandbox: the report runs no scripts and is not of the UI's origin. */}
          {kind === 'html' && <iframe className="html-preview" sandbox="" src={raw} title={fileName} />}
          {kind === 'dir' && <DirView digest={output.digest} />}
        </div>
      )}
    </div>
  );
}
