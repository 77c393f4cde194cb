import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENT_TYPES, extensionOf } from './content-types.js';
import { BASE_HEADERS, HttpError } from './http.js';

/** The front-end build: `dist/ui/` of the package this file belongs to (from source or from dist/). */
export function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'ui');
    const parent = dirname(dir);
    if (parent === dir) return resolve('dist', 'ui');
    dir = parent;
  }
}

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flywheel UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>The Flywheel UI is not built</h1>
<p>The server is running, but the web app's files (<code>dist/ui/index.html</code>) are missing.</p>
<p>Build them with <code>npm run build</code> (run by <code>npm install</code> too), then reload this page.</p>
<p>The API answers meanwhile: <a href="/api/runs">/api/runs</a>.</p>
</body></html>`;

/**
 * Serves the front-end build with a single-page fallback: a file under the build when one matches,
 * else index.html (the app routes /runs/…, /compare/…). Paths are decoded and checked segment by
 * segment, so nothing outside the build is ever served; the compiled server beside it (dist/ui/server)
 * is not served either.
 */
export async function serveStatic(res: ServerResponse, root: string, pathname: string, head: boolean): Promise<void> {
  let segments: string[];
  try {
    segments = pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'BAD_PATH', 'malformed escape in the path');
  }
  if (segments.some((s) => s === '..' || s === '.' || s.includes('/') || s.includes('\\') || s.includes('\0')))
    throw new HttpError(400, 'BAD_PATH', 'path segments may not be . or .. or hold separators');
  const base = resolve(root);
  if (segments[0] === 'server') throw new HttpError(404, 'NOT_FOUND', 'no such file');
  if (segments.length > 0) {
    const file = resolve(base, ...segments);
    if (file.startsWith(base + sep)) {
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile()) return sendFile(res, file, info.size, segments[0] === 'assets', head);
    }
    // A missing asset is a 404, never the app's HTML.
    if (segments[0] === 'assets' || /\.(js|css|map|png|svg|ico|woff2?)$/i.test(segments.at(-1) ?? '')) throw new HttpError(404, 'NOT_FOUND', 'no such file');
  }
  const index = join(base, 'index.html');
  const info = await stat(index).catch(() => undefined);
  if (info?.isFile()) return sendFile(res, index, info.size, false, head);
  res.writeHead(503, { ...BASE_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(head ? undefined : MISSING_BUILD);
}

function sendFile(res: ServerResponse, file: string, size: number, immutable: boolean, head: boolean): Promise<void> {
  res.writeHead(200, {
    ...BASE_HEADERS,
    'Content-Type': CONTENT_TYPES[extensionOf(file)] ?? 'application/octet-stream',
    'Content-Length': String(size),
    // Built assets carry a content hash in their names; index.html must be fetched again.
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (head) {
    res.end();
    return Promise.resolve();
  }
  return new Promise((done) => {
    const stream = createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      done();
    });
    res.on('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}
