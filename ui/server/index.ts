import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '../../cache/store.js';
import { Api } from './api.js';
import { BASE_HEADERS, HttpError, sendError } from './http.js';
import { defaultAssetsDir, serveStatic } from './static-files.js';

export type { RunSummary, RunsPage } from './runs-index.js';

export const TOKEN_COOKIE = 'flywheel_ui_token';

export interface UiServerOptions {
  store: Store;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Required of every request when set; required to set for a non-loopback host (see resolveToken). */
  token?: string | undefined;
  /** The front-end build (index.html + assets/); default dist/ui of this package. */
  assetsDir?: string;
  /** Event streams: how often a run is read again (default 500 ms), and the heartbeat (default 15 s). */
  pollMs?: number;
  heartbeatMs?: number;
}

export interface UiServer {
  /** http://host:port/ */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Whether a host name or address is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * The token a server on `host` requires: the one given, else FLYWHEEL_UI_TOKEN, else none on loopback;
 * a non-loopback host without one gets a fresh random token (`generated`, to print once).
 */
export function resolveToken(host: string, given: string | undefined, env = process.env): { token: string | undefined; generated: boolean } {
  const token = given || env.FLYWHEEL_UI_TOKEN || undefined;
  if (token !== undefined || isLoopback(host)) return { token, generated: false };
  return { token: randomBytes(24).toString('base64url'), generated: true };
}

const digestOf = (text: string): Buffer => createHash('sha256').update(text).digest();

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/** The Host header names this machine's loopback (a page on another site cannot reach a loopback server through DNS rebinding). */
function loopbackHostHeader(req: IncomingMessage): boolean {
  const host = req.headers.host ?? '';
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  return isLoopback(name);
}

/** A request target with a `.` or `..` segment, plain or percent-encoded: refused before URL parsing would resolve it away. */
function hasDotSegment(target: string): boolean {
  const path = target.split(/[?#]/, 1)[0] ?? '';
  return path.split(/\/|%2f|%5c|\\/i).some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}

/**
 * `flywheel ui`'s server: the read-only API under /api (see api.ts) and the front-end build, over one
 * store. Only GET and HEAD. With a token, every request carries it: `?token=` once (which sets an
 * HttpOnly, SameSite=Strict cookie), then the cookie or `Authorization: Bearer`.
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && !options.token) throw new Error(`a UI server on ${host} (not loopback) needs a token`);
  const expected = options.token ? digestOf(options.token) : undefined;
  const assetsDir = options.assetsDir ?? defaultAssetsDir();
  const api = new Api({
    store: options.store,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    if (hasDotSegment(req.url ?? '/')) return sendError(res, new HttpError(400, 'BAD_PATH', 'path segments may not be . or .. (plain or escaped)'));
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const isApi = url.pathname === '/api' || url.pathname.startsWith('/api/');
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendError(res, new HttpError(405, 'METHOD_NOT_ALLOWED', 'the UI is read-only: GET and HEAD only'));
    }
    if (expected === undefined && !loopbackHostHeader(req))
      return sendError(res, new HttpError(403, 'FORBIDDEN_HOST', 'this server answers only requests addressed to localhost'));
    const cookieHeaders: Record<string, string> = {};
    if (expected !== undefined) {
      const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const query = url.searchParams.get('token') ?? undefined;
      const presented = [query, bearer, cookieToken(req)].filter((t): t is string => t !== undefined);
      const valid = presented.some((t) => timingSafeEqual(digestOf(t), expected));
      if (!valid)
        return sendError(
          res,
          new HttpError(401, 'UNAUTHORIZED', 'this server needs its token: open the URL it printed (with ?token=), or send Authorization: Bearer <token>'),
        );
      if (query !== undefined && timingSafeEqual(digestOf(query), expected)) {
        cookieHeaders['Set-Cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(query)}; HttpOnly; SameSite=Strict; Path=/`;
        if (!isApi) {
          // Take the token out of the address bar (and of what gets pasted into a chat).
          url.searchParams.delete('token');
          res.writeHead(302, { ...BASE_HEADERS, ...cookieHeaders, Location: `${url.pathname}${url.search}`, 'Cache-Control': 'no-store' });
          return void res.end();
        }
      }
    }
    for (const [name, value] of Object.entries(cookieHeaders)) res.setHeader(name, value);
    if (isApi) return api.handle(req, res, url);
    try {
      await serveStatic(res, assetsDir, url.pathname, method === 'HEAD');
    } catch (error) {
      if (res.headersSent) res.destroy();
      else sendError(res, error instanceof HttpError ? error : new HttpError(500, 'INTERNAL', (error as Error).message));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, new HttpError(500, 'INTERNAL', 'internal error'));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  void api.runs.warm();
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        api.closeStreams();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
