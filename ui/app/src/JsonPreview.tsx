import { api } from './api';
import { JsonTree } from './JsonTree';
import { useJson } from './useJson';

/** A JSON blob as a collapsible tree. */
export function JsonPreview({ digest, name }: { digest: string; name: string }) {
  const loaded = useJson<unknown>(api.blob(digest, 'raw', { name }));
  if (loaded.state === 'loading') return <p className="muted">loading…</p>;
  if (loaded.state === 'error') return <p className="error">{loaded.error}</p>;
  return (
    <div className="json-tree">
      <JsonTree value={loaded.data} open={2} />
    </div>
  );
}
