import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { readManifest } from '../../cache/manifest.js';
import { shownStatus } from '../../cache/process-alive.js';
import type { RunRecord, StepRunRecord } from '../../cache/records.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';
import { compareRuns } from '../../engine/records/compare-runs.js';
import { readLogFilePage, wholeLines } from '../../engine/execute/log-file-page.js';
import { pipelineComparison } from '../../engine/load/load-extensions.js';
import { blobReader, DIGEST_RE, type BlobReader } from './blob-reader.js';
import { blobContentType } from './content-types.js';
import { compareCost, runCost } from './cost-view.js';
import { BASE_HEADERS, HttpError, intParam, sendError, sendJson } from './http.js';
import { readRecords, csvFields } from './paging.js';
import { RunsIndex, type RunsPage } from './runs-index.js';
import type { CompareResponse, DirListing, LinesPage, LogsPage, RunResponse, TablePage } from './api-types.js';
import { stepLogName } from '../../cache/step-log-name.js';

const RUN_ID_RE = /^[\w.-]{1,200}$/;
const LOG_PAGE_BYTES = 64 * 1024;
const LINES_PAGE_BYTES = 1024 * 1024;
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
const TEMPORAL_LIVE_MS = 2000;

export interface ApiOptions {
  store: Store;
  /** How often an event stream reads the run again (default 500 ms). */
  pollMs?: number;
  heartbeatMs?: number;
}

function runIdParam(raw: string): string {
  if (!RUN_ID_RE.test(raw) || raw === '.' || raw === '..') throw new HttpError(400, 'INVALID_RUN_ID', `invalid run id ${JSON.stringify(raw)}`);
  return raw;
}

function digestParam(raw: string): Digest {
  if (!DIGEST_RE.test(raw)) throw new HttpError(400, 'INVALID_DIGEST', 'a blob is named by its SHA-256: 64 lowercase hex characters');
  return raw as Digest;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The read-only JSON API under /api. */
export class Api {
  readonly runs: RunsIndex;
  private readonly blobs: BlobReader;
  private readonly store: Store;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly live = new Map<string, { at: number; run: Promise<RunRecord> }>();
  private readonly streams = new Set<ServerResponse>();

  constructor(options: ApiOptions) {
    this.store = options.store;
    this.runs = new RunsIndex(options.store);
    this.blobs = blobReader(options.store);
    this.pollMs = options.pollMs ?? POLL_MS;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  }

  /** Ends every open event stream (the server is closing). */
  closeStreams(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      await this.route(req, res, url);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) sendError(res, error);
      else if (error instanceof BlobUnavailableError)
        sendError(res, new HttpError(error.state === 'missing' ? 404 : 422, error.state === 'missing' ? 'BLOB_MISSING' : 'BLOB_UNREADABLE', error.message));
      else sendError(res, new HttpError(500, 'INTERNAL', (error as Error).message));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const segments = url.pathname
      .split('/')
      .slice(2)
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          throw new HttpError(400, 'BAD_PATH', 'malformed escape in the path');
        }
      });
    if (segments.at(-1) === '') segments.pop();
    const [head, ...rest] = segments;
    const p = url.searchParams;
    if (head === 'health' && rest.length === 0) return sendJson(res, 200, { ok: true });
    if (head === 'runs' && rest.length === 0) {
      const limit = intParam(p, 'limit', 50, 500);
      const before = p.get('before') || undefined;
      if (before !== undefined) runIdParam(before);
      const page = await this.runs.page({
        limit: Math.max(1, limit),
        before,
        pipeline: p.get('pipeline') || undefined,
        status: p.get('status') || undefined,
        q: p.get('q') || undefined,
      });
      return sendJson(res, 200, page satisfies RunsPage);
    }
    if (head === 'runs' && rest.length === 1) {
      const run = await this.requireRun(runIdParam(rest[0] as string));
      return sendJson(res, 200, { run, shownStatus: shownStatus(run), cost: runCost(run) } satisfies RunResponse);
    }
    if (head === 'runs' && rest.length === 2 && rest[1] === 'events') return this.events(req, res, runIdParam(rest[0] as string));
    if (head === 'runs' && rest.length === 4 && rest[1] === 'steps' && rest[3] === 'logs')
      return sendJson(res, 200, await this.logs(runIdParam(rest[0] as string), rest[2] as string, intParam(p, 'offset', 0), p.get('after') ?? undefined));
    if (head === 'blobs' && rest.length === 1) return this.blob(res, digestParam(rest[0] as string), p);
    if (head === 'compare' && rest.length === 2) {
      const [a, b] = await Promise.all([this.requireRun(runIdParam(rest[0] as string)), this.requireRun(runIdParam(rest[1] as string))]);
      const { sections, note } = await pipelineComparison(this.store, a, b);
      return sendJson(res, 200, { comparison: compareRuns(a, b), cost: compareCost(a, b), sections, note } satisfies CompareResponse);
    }
    throw new HttpError(404, 'NOT_FOUND', `no API route ${url.pathname}`);
  }

  /** A run as it stands: the store's record, overlaid with a running Temporal workflow's live states when Temporal is configured. */
  private async currentRun(runId: string): Promise<RunRecord | undefined> {
    const run = await this.store.getRun(runId).catch((error: Error) => {
      throw new HttpError(500, 'RUN_RECORD_UNREADABLE', error.message);
    });
    if (run === undefined || run.engine !== 'temporal' || run.status !== 'running' || !process.env.TEMPORAL_ADDRESS) return run;
    let live = this.live.get(runId);
    if (live === undefined || Date.now() - live.at > TEMPORAL_LIVE_MS) {
      const overlaid = import('../../workers/live-run.js').then((m) => m.liveRun(run)).catch(() => run);
      live = { at: Date.now(), run: overlaid };
      this.live.set(runId, live);
    }
    return live.run;
  }

  private async requireRun(runId: string): Promise<RunRecord> {
    const run = await this.currentRun(runId);
    if (run === undefined) throw new HttpError(404, 'RUN_NOT_FOUND', `no run ${runId} in ${this.store.description}`);
    return run;
  }

  /** Server-sent events: `cost` then `run` now and on every change, `end` once the run is no longer running. */
  private async events(req: IncomingMessage, res: ServerResponse, runId: string): Promise<void> {
    const first = await this.requireRun(runId);
    // A client gone while the run was read: its close events have fired already, so nothing would stop the polling.
    if (req.destroyed || res.destroyed) return;
    res.writeHead(200, {
      ...BASE_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') return void res.end();
    this.streams.add(res);
    let last = '';
    let closed = false;
    let busy = false;
    const send = (event: string, data: string): void => void res.write(`event: ${event}\ndata: ${data}\n\n`);
    const finish = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      clearInterval(heartbeat);
      this.streams.delete(res);
      res.end();
    };
    const publish = (run: RunRecord): void => {
      const text = JSON.stringify(run);
      if (text !== last) {
        last = text;
        // The cost first: a page that shows the record has its cost already.
        send('cost', JSON.stringify(runCost(run)));
        send('run', text);
      }
      if (shownStatus(run) !== 'running') {
        send('end', JSON.stringify({ status: shownStatus(run) }));
        finish();
      }
    };
    const poll = setInterval(() => {
      if (busy || closed) return;
      busy = true;
      this.currentRun(runId)
        .then((run) => {
          if (closed) return;
          if (run === undefined) {
            send('end', JSON.stringify({ status: 'gone' }));
            finish();
          } else publish(run);
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, this.pollMs);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.heartbeatMs);
    req.on('close', finish);
    res.on('close', finish);
    publish(first);
  }

  /** A page of a step's log: its stored blob, else the live file a local run writes, else nothing yet. */
  /**
   * A page of a step's log. `source` says which file the offsets count in: the live file while the step
   * runs, the stored blob once it has ended (capped, so not always the same bytes). A reader whose
   * source changes starts again from 0.
   */
  private async logs(runId: string, stepId: string, offset: number, after: string | undefined, following = true): Promise<LogsPage> {
    const run = await this.requireRun(runId);
    const step: StepRunRecord | undefined = run.steps.find((s) => s.id === stepId);
    if (step === undefined) throw new HttpError(404, 'STEP_NOT_FOUND', `run ${runId} has no step ${JSON.stringify(stepId)}`);
    // A cached result's log is the one of the run that computed it (once: that run's step executed).
    if (following && step.status === 'cached' && step.computedBy !== undefined && step.computedBy !== runId) {
      const page = await this.logs(step.computedBy, stepId, offset, after, false).catch(() => undefined);
      if (page !== undefined && page.source !== 'none') return { ...page, from: step.computedBy };
    }
    const settled = shownStatus(run) !== 'running' || (step.status !== 'running' && step.status !== 'pending');
    const logs = (step as { logs?: unknown }).logs;
    if (typeof logs === 'string' && DIGEST_RE.test(logs)) {
      const size = await this.blobs.size(logs as Digest);
      if (size === undefined) throw new HttpError(404, 'BLOB_MISSING', `the log of ${stepId} (blob ${logs}) is missing from ${this.store.description}`);
      const start = Math.min(offset, size);
      const end = Math.min(start + LOG_PAGE_BYTES, size);
      const bytes = wholeLines(await readAll(await this.blobs.open(logs as Digest, start, end)), end === size);
      const next = start + bytes.length;
      return { text: bytes.toString('utf8'), offset: start, next, done: next >= size, source: 'blob' };
    }
    const path = this.liveLogPath(runId, stepId);
    if (path !== undefined) {
      const page = await readLogFilePage(path, offset, LOG_PAGE_BYTES).catch(() => undefined);
      if (page !== undefined) return { text: page.text, offset: page.offset, next: page.next, done: settled && page.next >= page.size, source: 'live' };
    }
    // On S3 workers ship a running step's lines in segments: the page is those after the last one read.
    const segments = await this.store.readLogSegments?.(runId, stepId, after, 50);
    if (segments !== undefined && (segments.length > 0 || after !== undefined)) {
      const text = segments.map((s) => s.text).join('');
      const cursor = segments[segments.length - 1]?.name ?? after;
      return {
        text,
        offset,
        next: offset + Buffer.byteLength(text),
        done: settled && segments.length === 0,
        source: 'segments',
        ...(cursor === undefined ? {} : { cursor }),
      };
    }
    return { text: '', offset, next: offset, done: settled, source: 'none' };
  }

  /** Where a local run writes a running step's log: the store says (engine/execute/step-logs.ts), else the same layout on a local store. */
  private liveLogPath(runId: string, stepId: string): string | undefined {
    const named = (this.store as { liveLogPath?: (runId: string, stepId: string) => string | undefined }).liveLogPath?.(runId, stepId);
    if (named !== undefined) return named;
    // Step ids are made file names as the local store makes them (see stepLogName).
    return this.store instanceof LocalStore ? join(this.store.root, 'logs', runId, `${stepLogName(stepId)}.log`) : undefined;
  }

  private async blob(res: ServerResponse, digest: Digest, p: URLSearchParams): Promise<void> {
    const view = p.get('view') ?? 'raw';
    const size = await this.blobs.size(digest);
    if (size === undefined) throw new HttpError(404, 'BLOB_MISSING', `no blob ${digest} in ${this.store.description}`);
    const offset = Math.min(intParam(p, 'offset', 0), size);
    if (view === 'raw') {
      const name = p.get('name') ?? '';
      const headers: Record<string, string> = {
        ...BASE_HEADERS,
        'Content-Type': blobContentType(name),
        'Content-Length': String(size),
        // Artifacts are untrusted: never scripts, never the UI's origin, whatever their type.
        'Content-Security-Policy': 'sandbox',
        'Cache-Control': 'private, max-age=31536000, immutable',
      };
      if (p.get('download') === '1') headers['Content-Disposition'] = `attachment; filename="${(name.replace(/[^\w.-]/g, '_') || digest).slice(0, 200)}"`;
      res.writeHead(200, headers);
      if (res.req.method === 'HEAD') return void res.end();
      const stream = await this.blobs.open(digest);
      await new Promise<void>((resolve) => {
        stream.on('error', () => {
          res.destroy();
          resolve();
        });
        res.on('close', () => {
          stream.destroy();
          resolve();
        });
        stream.pipe(res);
      });
      return;
    }
    if (view === 'lines') {
      const limit = Math.max(1, intParam(p, 'limit', 100, 1000));
      const page = await readRecords(await this.blobs.open(digest, offset), offset, { maxRecords: limit, maxBytes: LINES_PAGE_BYTES });
      return sendJson(res, 200, { lines: page.records, offset, next: page.next, done: page.next >= size } satisfies LinesPage);
    }
    if (view === 'table') {
      const limit = Math.max(1, intParam(p, 'limit', 100, 1000));
      const first = await readRecords(await this.blobs.open(digest, 0), 0, { maxRecords: 1, maxBytes: LINES_PAGE_BYTES, csv: true });
      const header = first.records[0] === undefined ? [] : csvFields(first.records[0]);
      const start = Math.max(offset, first.next);
      const page = await readRecords(await this.blobs.open(digest, start), start, { maxRecords: limit, maxBytes: LINES_PAGE_BYTES, csv: true });
      return sendJson(res, 200, { header, rows: page.records.map(csvFields), offset, next: page.next, done: page.next >= size } satisfies TablePage);
    }
    if (view === 'dir') {
      // A manifest is read whole: anything this large is not one (and must not be loaded to find out).
      if (size > MAX_MANIFEST_BYTES) throw new HttpError(422, 'NOT_A_DIRECTORY', `blob ${digest} (${size} bytes) is too large to be a directory manifest`);
      const manifest = await readManifest(this.store, digest).catch((error: unknown) => {
        if (error instanceof BlobUnavailableError && error.state === 'corrupt')
          throw new HttpError(422, 'NOT_A_DIRECTORY', `blob ${digest} is not a directory manifest`);
        throw error;
      });
      const entries = manifest.entries.flatMap((e) => (e.type === 'file' ? [{ path: e.path, digest: e.digest, size: e.size }] : []));
      return sendJson(res, 200, { entries } satisfies DirListing);
    }
    throw new HttpError(400, 'BAD_VIEW', 'view must be raw, lines, table or dir');
  }
}
