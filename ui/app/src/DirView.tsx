import { useState } from 'react';
import { api, type DirListing } from './api';
import { bytes, shortDigest } from './format';
import { OutputPreview } from './OutputPreview';
import { useJson } from './useJson';

/** A directory output: its files (`view=dir`); choosing one previews it like any file output. */
export function DirView({ digest }: { digest: string }) {
  const loaded = useJson<DirListing>(api.blob(digest, 'dir'));
  const [open, setOpen] = useState<string | null>(null);
  if (loaded.state === 'loading') return <p className="muted">loading…</p>;
  if (loaded.state === 'error') return <p className="error">{loaded.error}</p>;
  const entry = loaded.data.entries.find((e) => e.path === open);
  return (
    <div className="dir">
      <table className="grid">
        <tbody>
          {loaded.data.entries.map((e) => (
            <tr key={e.path} className={e.path === open ? 'selected' : ''}>
              <td>
                <button type="button" className="link-button" onClick={() => setOpen(e.path === open ? null : e.path)}>
                  {e.path}
                </button>
              </td>
              <td className="num">{bytes(e.size)}</td>
              <td className="mono muted">{shortDigest(e.digest)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {entry !== undefined && (
        <OutputPreview
          name={entry.path}
          output={{ kind: 'file', digest: entry.digest, size: entry.size, fileName: entry.path.split('/').pop() ?? entry.path }}
        />
      )}
    </div>
  );
}
