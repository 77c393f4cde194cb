// A real Jaeger (v1.75.0's `jaeger` binary, built once per machine by scripts/install-test-servers.sh) with
// in-memory storage, its OTLP/HTTP receiver and query API on free loopback ports. Tests send a run's trace
// to it and read the trace back through the query API.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './child-process.js';
import { freePort } from './minio.js';

export const JAEGER_BIN =
  process.env.FLYWHEEL_JAEGER_BIN ?? join(process.env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'bin', 'jaeger');

/** A span as Jaeger's query API returns it, with its tags as a map. */
export interface JaegerSpan {
  spanID: string;
  traceID: string;
  operationName: string;
  parent: string | undefined;
  startTime: number;
  duration: number;
  tags: Record<string, unknown>;
  service: string;
}

export interface JaegerServer {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  otlpEndpoint: string;
  queryUrl: string;
  /** Jaeger's web UI: the query port, which serves the UI beside the API (the real one only when started with `uiAssets`). */
  uiUrl: string;
  /** Every trace of the service, each as its spans; waits (up to 20 s) until `minTraces` traces have their root span. */
  traces(service: string, minTraces?: number): Promise<JaegerSpan[][]>;
  stop(): Promise<void>;
}

interface RawTrace {
  traceID: string;
  spans: Array<{
    spanID: string;
    traceID: string;
    operationName: string;
    startTime: number;
    duration: number;
    processID: string;
    references?: Array<{ refType: string; spanID: string }>;
    tags: Array<{ key: string; value: unknown }>;
  }>;
  processes: Record<string, { serviceName: string }>;
}

export interface JaegerOptions {
  /**
   * A folder of built jaeger-ui assets (index.html at its top) for the query port to serve. A `go install`ed
   * Jaeger embeds only a placeholder page, and jaeger-ui is on no package registry: see docs/jaeger-ui.md.
   */
  uiAssets?: string;
}

export async function startJaeger(options: JaegerOptions = {}): Promise<JaegerServer> {
  if (!existsSync(JAEGER_BIN)) throw new Error(`no Jaeger at ${JAEGER_BIN}: run scripts/install-test-servers.sh (CI does) first`);
  const { uiAssets } = options;
  if (uiAssets !== undefined && !existsSync(join(uiAssets, 'index.html')))
    throw new Error(`no jaeger-ui at ${uiAssets}: the folder must hold a built jaeger-ui (index.html at its top); see docs/jaeger-ui.md`);
  const root = await mkdtemp(join(tmpdir(), 'flywheel-jaeger-'));
  const [otlp, query, queryGrpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(root, 'config.yaml');
  // The all-in-one configuration, reduced to what the tests use: OTLP/HTTP in, memory storage, the query API.
  await writeFile(
    config,
    [
      'service:',
      '  extensions: [jaeger_storage, jaeger_query, healthcheckv2]',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      processors: [batch]',
      '      exporters: [jaeger_storage_exporter]',
      '  telemetry:',
      '    metrics:',
      '      level: none',
      '    logs:',
      '      level: warn',
      'extensions:',
      '  jaeger_query:',
      '    storage:',
      '      traces: memory_store',
      '    http:',
      `      endpoint: 127.0.0.1:${query}`,
      '    grpc:',
      `      endpoint: 127.0.0.1:${queryGrpc}`,
      // Served from the folder instead of the embedded placeholder page.
      ...(uiAssets === undefined ? [] : ['    ui:', `      assets_path: ${JSON.stringify(uiAssets)}`]),
      '  jaeger_storage:',
      '    backends:',
      '      memory_store:',
      '        memory:',
      '          max_traces: 100000',
      '  healthcheckv2:',
      '    use_v2: true',
      '    http:',
      `      endpoint: 127.0.0.1:${health}`,
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      http:',
      `        endpoint: 127.0.0.1:${otlp}`,
      'processors:',
      '  batch:',
      '    timeout: 100ms',
      'exporters:',
      '  jaeger_storage_exporter:',
      '    trace_storage: memory_store',
      '',
    ].join('\n'),
  );
  let log = '';
  const child: ChildProcess = spawn(JAEGER_BIN, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const queryUrl = `http://127.0.0.1:${query}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`jaeger exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${queryUrl}/api/services`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`jaeger did not answer on ${queryUrl} within 30 s:\n${log}`);
    await sleep(100);
  }
  const read = async (service: string): Promise<JaegerSpan[][]> => {
    const response = await fetch(`${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=100&lookback=1h`);
    if (!response.ok) return [];
    const body = (await response.json()) as { data: RawTrace[] | null };
    return (body.data ?? []).map((t) =>
      t.spans.map((s) => ({
        spanID: s.spanID,
        traceID: s.traceID,
        operationName: s.operationName,
        parent: s.references?.find((r) => r.refType === 'CHILD_OF')?.spanID,
        startTime: s.startTime,
        duration: s.duration,
        tags: Object.fromEntries(s.tags.map((tag) => [tag.key, tag.value])),
        service: t.processes[s.processID]?.serviceName ?? '',
      })),
    );
  };
  return {
    otlpEndpoint: `http://127.0.0.1:${otlp}`,
    queryUrl,
    uiUrl: queryUrl,
    async traces(service, minTraces = 1) {
      const until = Date.now() + 20_000;
      for (;;) {
        const traces = await read(service);
        const rooted = traces.filter((t) => t.some((s) => s.parent === undefined)).length;
        if (rooted >= minTraces || Date.now() > until) return traces;
        await sleep(200);
      }
    },
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      await rm(root, { recursive: true, force: true });
    },
  };
}
