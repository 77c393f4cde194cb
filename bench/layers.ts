// (k) A look-up through a read-only layer: a fully cached run whose results are on S3, read directly
// (FLYWHEEL_STORE=s3://…) against read through a layer under a local store (FLYWHEEL_STORE=<dir>,
// FLYWHEEL_READ_FROM=s3://…), on a real MinIO behind a proxy of this script's that counts the requests.
// The target: no more than one extra GET per key.
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startMinio } from '../test/support/minio.js';
import { chainDagSource } from './cached-run.js';
import { FLYWHEEL_BIN, formatMs, formatRatio, freshDir, heading, line, median, runIfMain, runProcess, type SummaryRow } from './lib.js';

const CHAINS = 2;
const CHAIN_LENGTH = 50;
const STEPS = CHAINS * CHAIN_LENGTH;
const SAMPLES = 3;

/** Forwards every request to `target` and counts them by method. */
async function countingProxy(target: string): Promise<{ url: string; counts: Map<string, number>; close(): Promise<void> }> {
  const counts = new Map<string, number>();
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    counts.set(req.method ?? '?', (counts.get(req.method ?? '?') ?? 0) + 1);
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, counts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function benchLayers(): Promise<SummaryRow[]> {
  heading(`(k) a cached ${STEPS}-step run from S3: directly, and through a read-only layer under a local store`);
  const minio = await startMinio();
  const proxy = await countingProxy(minio.endpoint);
  try {
    const bucket = 'bench-layers';
    await minio.createBucket(bucket);
    const dir = await freshDir('layers');
    const pipeline = join(dir, 'dag.ts');
    await writeFile(pipeline, chainDagSource('bench-layers', CHAINS, CHAIN_LENGTH));
    const s3 = { ...process.env, ...minio.env, AWS_ENDPOINT_URL: proxy.url };
    const main = `s3://${bucket}/main`;
    const fill = await runProcess('node', [FLYWHEEL_BIN, 'run', pipeline], {
      cwd: dir,
      env: { ...s3, FLYWHEEL_STORE: main, FLYWHEEL_S3_LOCAL: join(dir, 'fill') },
    });
    line('fill run on S3', formatMs(fill.wallMs));
    const measure = async (label: string, env: NodeJS.ProcessEnv): Promise<{ reads: number; ms: number }> => {
      proxy.counts.clear();
      const run = await runProcess('node', [FLYWHEEL_BIN, 'run', pipeline, '--json'], { cwd: dir, env });
      const cached = (JSON.parse(run.stdout) as { steps: Array<{ status: string }> }).steps.filter((s) => s.status === 'cached').length;
      const get = proxy.counts.get('GET') ?? 0;
      const head = proxy.counts.get('HEAD') ?? 0;
      line(
        label,
        `${cached}/${STEPS} cached, ${formatMs(run.wallMs)}: ${get} GET, ${head} HEAD, ${proxy.counts.get('PUT') ?? 0} PUT (${((get + head) / STEPS).toFixed(2)} reads per key)`,
      );
      return { reads: get + head, ms: run.wallMs };
    };
    // A fresh local copy each time, so nothing is spared by an earlier run's downloads; in turns, median of three.
    const directs: Array<{ reads: number; ms: number }> = [];
    const layereds: Array<{ reads: number; ms: number }> = [];
    for (let i = 0; i < SAMPLES; i++) {
      directs.push(await measure('directly: FLYWHEEL_STORE=s3://…/main', { ...s3, FLYWHEEL_STORE: main, FLYWHEEL_S3_LOCAL: join(dir, `direct-${i}`) }));
      layereds.push(
        await measure('layered: FLYWHEEL_STORE=<dir>, FLYWHEEL_READ_FROM=s3://…/main', {
          ...s3,
          FLYWHEEL_STORE: join(dir, `own-${i}`),
          FLYWHEEL_READ_FROM: main,
          FLYWHEEL_S3_LOCAL: join(dir, `layered-${i}`),
        }),
      );
    }
    const middle = (samples: Array<{ reads: number; ms: number }>): { reads: number; ms: number } => ({
      reads: median(samples.map((x) => x.reads)),
      ms: median(samples.map((x) => x.ms)),
    });
    const direct = middle(directs);
    const layered = middle(layereds);
    const extra = (layered.reads - direct.reads) / STEPS;
    line('extra S3 reads per key through the layer', `${extra.toFixed(2)} (target ≤ 1)`);
    line('layered / direct wall time', formatRatio(layered.ms / direct.ms));
    return [
      {
        bench: '(k) read-only layer',
        metric: 'extra S3 reads per key, layered vs direct',
        value: extra.toFixed(2),
        target: '≤ 1',
      },
      {
        bench: '(k) read-only layer',
        metric: 'cached run: layered / direct',
        value: formatMs(layered.ms),
        baseline: formatMs(direct.ms),
        ratio: layered.ms / direct.ms,
      },
    ];
  } finally {
    await proxy.close();
    await minio.stop();
  }
}

runIfMain(import.meta.url, benchLayers);
