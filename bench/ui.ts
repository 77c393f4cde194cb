// (g) `flywheel ui` in a real headless Chromium (Debian's /usr/bin/chromium): the runs list's first
// paint with 10,000 runs in the store, a 1,000-node DAG laid out and drawn, and the server's peak
// memory while a 1 GiB artifact is downloaded and paged. Baselines, measured here too: the same pages
// over a store of 10 runs and a 10-node DAG; the server's memory right after it starts.
// Targets: first paint under 1 s; the 1,000-node DAG under 2 s; the server under 256 MiB.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import type * as Flywheel from '../index.js';
import { freePort } from '../test/support/minio.js';
import {
  FLYWHEEL_BIN,
  formatMs,
  formatRatio,
  freshDir,
  heading,
  importDist,
  line,
  median,
  runIdAt,
  runIfMain,
  writeIncompressibleFile,
  type SummaryRow,
} from './lib.js';

type Api = typeof Flywheel;
type RunRecord = Flywheel.RunRecord;
type StepRunRecord = Flywheel.StepRunRecord;

const BENCH = '(g) ui';
const RUNS = 10_000;
const DAG_NODES = 1_000;
const SAMPLES = 3;
const GIB = 1024 ** 3;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A finished run: `steps` nodes in chains of 100, each reading the one before, some cached. */
function runRecord(count: number, pipeline: string, steps: number): RunRecord {
  const startedAt = new Date(Date.UTC(2026, 0, 1) + count * 60_000).toISOString();
  const nodes: StepRunRecord[] = Array.from({ length: steps }, (_, i) => ({
    id: `s${i}`,
    step: 'bench-step',
    status: i % 3 === 0 ? 'executed' : 'cached',
    reasonCodes: i % 3 === 0 ? ['config-changed'] : ['cache-hit'],
    reason: i % 3 === 0 ? `config n: ${i} → ${i + 1}` : 'cache hit (computed by run earlier)',
    outputs: {},
    durationMs: 10,
    ...(i % 3 === 0 ? {} : { savedMs: 10, computedBy: runIdAt(0) }),
    upstream: i % 100 === 0 ? [] : [`s${i - 1}`],
  }));
  return {
    format: 'flywheel.run/v1',
    runId: runIdAt(count),
    pipeline,
    status: 'succeeded',
    startedAt,
    durationMs: 1000,
    host: 'bench',
    pid: 1,
    overrides: [],
    steps: nodes,
  };
}

interface UiServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startUi(storeDir: string): Promise<UiServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [FLYWHEEL_BIN, 'ui', '--port', String(port)], { env: { ...process.env, FLYWHEEL_STORE: storeDir }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`flywheel ui exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/api/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (tries > 300) throw new Error('flywheel ui did not answer within 30 s');
    await sleep(100);
  }
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** The server's peak resident memory so far (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** Milliseconds from navigation to `ready` holding in the page, for `samples` fresh page loads. */
async function timePage(browser: Browser, url: string, ready: string, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(ready, undefined, { timeout: 60_000 });
    times.push(await page.evaluate(() => performance.now()));
    await page.close();
  }
  return times;
}

export async function benchUi(): Promise<SummaryRow[]> {
  heading(`${BENCH}: runs list with ${RUNS.toLocaleString('en')} runs, a ${DAG_NODES.toLocaleString('en')}-node DAG, a 1 GiB artifact`);
  const api = await importDist<Api>('index.js');
  const { chromium } = await import('playwright-core');
  const dir = await freshDir('ui');
  const big = join(dir, 'big');
  const small = join(dir, 'small');
  const bigStore = api.openStore(big);
  const smallStore = api.openStore(small);
  for (let i = 0; i < RUNS; i++) await bigStore.putRun(runRecord(i + 1, 'bench-ui', 10));
  const dagRun = runRecord(RUNS + 1, 'bench-ui-dag', DAG_NODES);
  await bigStore.putRun(dagRun);
  for (let i = 0; i < 10; i++) await smallStore.putRun(runRecord(i + 1, 'bench-ui', 10));
  const smallDag = runRecord(11, 'bench-ui-dag', 10);
  await smallStore.putRun(smallDag);
  const artifact = join(dir, 'artifact.bin');
  await writeIncompressibleFile(artifact, GIB);
  const stored = await bigStore.putFile(artifact, { move: true });

  const browser = await chromium.launch({ executablePath: process.env.FLYWHEEL_CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const rows: SummaryRow[] = [];
  const bigUi = await startUi(big);
  const smallUi = await startUi(small);
  try {
    const listReady = `document.querySelector('tr[data-run]') !== null`;
    const dagReady = (n: number) => `document.querySelectorAll('[data-step]').length >= ${n}`;
    const list = await timePage(browser, `${bigUi.url}/`, listReady, SAMPLES);
    const listBase = await timePage(browser, `${smallUi.url}/`, listReady, SAMPLES);
    const dag = await timePage(browser, `${bigUi.url}/runs/${dagRun.runId}`, dagReady(DAG_NODES), SAMPLES);
    const dagBase = await timePage(browser, `${smallUi.url}/runs/${smallDag.runId}`, dagReady(10), SAMPLES);
    line(`runs list first paint, ${RUNS.toLocaleString('en')} runs (first load, then warm)`, list.map(formatMs).join(', '));
    line('runs list first paint, 10 runs', listBase.map(formatMs).join(', '));
    line(`${DAG_NODES.toLocaleString('en')}-node DAG laid out and drawn`, dag.map(formatMs).join(', '));
    line('10-node DAG laid out and drawn', dagBase.map(formatMs).join(', '));
    rows.push(
      {
        bench: BENCH,
        metric: `runs list first paint, ${RUNS.toLocaleString('en')} runs (first load)`,
        value: formatMs(list[0] ?? Number.NaN),
        baseline: formatMs(median(listBase)),
        ratio: (list[0] ?? Number.NaN) / median(listBase),
        target: '< 1 s',
      },
      {
        bench: BENCH,
        metric: `${DAG_NODES.toLocaleString('en')}-node DAG drawn (median)`,
        value: formatMs(median(dag)),
        baseline: formatMs(median(dagBase)),
        ratio: median(dag) / median(dagBase),
        target: '< 2 s',
      },
    );

    const idle = await peakRss(bigUi.child.pid as number);
    const started = performance.now();
    const response = await fetch(`${bigUi.url}/api/blobs/${stored.digest}?view=raw&name=artifact.bin`);
    let received = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    const downloadMs = performance.now() - started;
    for (const offset of [0, GIB / 2, GIB - 4096]) await (await fetch(`${bigUi.url}/api/blobs/${stored.digest}?view=lines&offset=${offset}&limit=100`)).text();
    const peak = await peakRss(bigUi.child.pid as number);
    const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
    line('server peak memory: idle after start', mib(idle));
    line(`server peak memory after streaming ${mib(received)} (${formatMs(downloadMs)}) and paging it`, `${mib(peak)} (${formatRatio(peak / idle)} idle)`);
    rows.push({
      bench: BENCH,
      metric: 'server peak RSS, 1 GiB artifact streamed and paged',
      value: mib(peak),
      baseline: mib(idle),
      ratio: peak / idle,
      target: '< 256 MiB',
    });
  } finally {
    await browser.close();
    await bigUi.stop();
    await smallUi.stop();
  }
  return rows;
}

runIfMain(import.meta.url, benchUi);
