import { useEffect, useState } from 'react';
import { api, getJson, type LinesPage } from './api';

const LIMIT = 500;

/** A text blob in <pre>, read 500 lines at a time (`view=lines`), so a large file is never loaded whole. */
export function TextPreview({ digest, name }: { digest: string; name: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [next, setNext] = useState<number | null>(0);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = (offset: number, reset: boolean) =>
    getJson<LinesPage>(api.blob(digest, 'lines', { name, offset, limit: LIMIT })).then(
      (page) => {
        setLines((shown) => (reset ? page.lines : [...shown, ...page.lines]));
        setNext(page.next);
        setDone(page.done);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );

  useEffect(() => {
    setError(null);
    void load(0, true);
  }, [digest, name]); // load only reads its arguments and setters

  if (error !== null) return <p className="error">{error}</p>;
  return (
    <div>
      <pre className="text-preview">{lines.join('\n')}</pre>
      {!done && next !== null && (
        <button type="button" onClick={() => void load(next, false)}>
          more lines
        </button>
      )}
    </div>
  );
}
