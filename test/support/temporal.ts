import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './child-process.js';
import { Connection } from '@temporalio/client';
import { freePort } from './minio.js';

export const TEMPORAL_BIN =
  process.env.FLYWHEEL_TEMPORAL_BIN ?? join(process.env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'bin', 'temporal');

export interface TemporalServer {
  address: string;
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL by default) but keeps its SQLite database, for `restart`. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and database (a `persistent` server keeps its state). */
  restart(): Promise<void>;
}

export interface TemporalServerOptions {
  /** Keep the state in a SQLite file, so `halt` + `restart` continue where the server stopped (slower: it syncs every write). */
  persistent?: boolean;
  /** `--dynamic-config-value KEY=VALUE` settings, e.g. a low continue-as-new threshold. */
  dynamicConfig?: Record<string, string | number>;
}

async function waitUntilServing(address: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal exited with ${child.exitCode}:\n${output()}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        // The namespace exists once the dev server finished its own set-up.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await connection.close();
      }
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`temporal did not answer on ${address} within 60 s:\n${output()}`);
}

/**
 * Starts a real Temporal dev server (`temporal server start-dev --headless`) on free loopback ports with
 * its own SQLite file and Flywheel's search attributes registered.
 */
export async function startTemporal(options: TemporalServerOptions = {}): Promise<TemporalServer> {
  if (!existsSync(TEMPORAL_BIN)) throw new Error(`no Temporal CLI at ${TEMPORAL_BIN}: run scripts/install-test-servers.sh (CI does) first`);
  const root = await mkdtemp(join(tmpdir(), 'flywheel-temporal-'));
  const argsFor = (port: number, httpPort: number, metricsPort: number): string[] => [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    ...(options.persistent ? ['--db-filename', join(root, 'temporal.sqlite')] : []),
    '--log-level',
    'error',
    '--search-attribute',
    'FlywheelPipeline=Keyword',
    '--search-attribute',
    'FlywheelRunId=Keyword',
    ...Object.entries(options.dynamicConfig ?? {}).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
  ];
  let address = '';
  let args: string[] = [];
  let child: ChildProcess | undefined;
  let log = '';
  const launch = async (): Promise<void> => {
    log = '';
    child = spawn(TEMPORAL_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    await waitUntilServing(address, child, () => log);
  };
  // The dev server also binds ports of its own choosing for its internal services: on a busy machine one
  // is sometimes taken between its choice and its bind, and it exits. Fresh ports, a few times.
  for (let attempt = 1; ; attempt++) {
    const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    address = `127.0.0.1:${port}`;
    args = argsFor(port, httpPort, metricsPort);
    try {
      await launch();
      break;
    } catch (error) {
      if (child !== undefined) await stopChild(child, 'SIGKILL');
      if (attempt >= 3 || !log.includes('address already in use')) throw error;
    }
  }
  const halt = (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => (child === undefined ? Promise.resolve() : stopChild(child, signal));
  return {
    address,
    halt,
    restart: launch,
    stop: async () => {
      await halt('SIGTERM');
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface WorkerProcess {
  queue: 'cpu' | 'gpu-h200';
  child: ChildProcess;
  output(): string;
  /** Stops it (SIGTERM: graceful drain) or kills it (SIGKILL) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a real `flywheel worker --queue <queue>` process and waits until it polls its task queue. */
export async function startWorker(
  queue: 'cpu' | 'gpu-h200',
  env: Record<string, string>,
  extraArgs: string[] = [],
  /** Another build's `bin/flywheel.js` (an older version, for the upgrade test); default this one's. */
  bin = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin', 'flywheel.js'),
): Promise<WorkerProcess> {
  // Never quieter than info: readiness is read from the worker's info line (benches ask for warn elsewhere).
  const level = ['trace', 'debug'].includes(env.FLYWHEEL_LOG_LEVEL ?? '') ? (env.FLYWHEEL_LOG_LEVEL as string) : 'info';
  const child = spawn(process.execPath, [bin, 'worker', '--queue', queue, '--log-level', level, ...extraArgs], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-200_000)));
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-200_000)));
  const deadline = Date.now() + 60_000;
  while (!log.includes('"worker started"')) {
    if (child.exitCode !== null) throw new Error(`worker ${queue} exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) throw new Error(`worker ${queue} did not start within 60 s:\n${log}`);
    await sleep(50);
  }
  return {
    queue,
    child,
    output: () => log,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, signal),
  };
}

let quietRuntime = false;

/** Replays workflow histories against the bundle `npm run build` made; throws on any non-determinism. */
export async function replayHistories(histories: Array<{ workflowId: string; history: unknown }>): Promise<void> {
  const { DefaultLogger, Runtime, Worker } = await import('@temporalio/worker');
  if (!quietRuntime) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    quietRuntime = true;
  }
  const codePath = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'workflows', 'bundle.js');
  for (const { workflowId, history } of histories) {
    try {
      await Worker.runReplayHistory({ workflowBundle: { codePath } }, history, workflowId);
    } catch (error) {
      const kept = await keepHistory(workflowId, history);
      throw new Error(
        `workflow ${workflowId} no longer replays against dist/workflows/bundle.js: ${(error as Error).message}\n` +
          `Its history is kept in ${kept}.\n` +
          'A workflow change like this one breaks the runs in flight when workers are upgraded (a 12-hour fine-tune among them). ' +
          "Keep the old behaviour for runs that started without the change: decide with patched('<change-id>') once per run, " +
          'at the same point of every run (see workflows/element-chunks.ts), and deprecatePatch it once no such run can still be running. ' +
          'Re-record a history (scripts/record-histories.ts) only on purpose, keeping the old one beside it.',
        { cause: error },
      );
    }
  }
}

/** Writes a history that failed to replay where it outlives the test (Temporal's JSON form), and says where. */
async function keepHistory(workflowId: string, history: unknown): Promise<string> {
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
  const dir = process.env.FLYWHEEL_KEEP_HISTORIES ?? join(tmpdir(), 'flywheel-unreplayable');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${workflowId}.json`);
  let json: string;
  try {
    json = historyToJSON(history as Parameters<typeof historyToJSON>[0]);
  } catch {
    json = JSON.stringify(history); // already Temporal's JSON form (a fixture)
  }
  await writeFile(file, json);
  return file;
}

/** Stops what a suite started (whatever of it did start) and removes its shared folder. */
export async function stopSuite(workers: Array<WorkerProcess | undefined>, server: TemporalServer | undefined, folder: string | undefined): Promise<void> {
  await Promise.all(workers.map((worker) => worker?.stop()));
  await server?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
}

/** A dev server, workers and a shared folder for one test suite or bench, and the env its CLI runs need. */
export interface TemporalSuite {
  server: TemporalServer;
  workers: WorkerProcess[];
  /** TEMPORAL_ADDRESS, the queue prefix, a compile cache in `folder`, and what the caller added. */
  env: Record<string, string>;
  folder: string;
  stop(): Promise<void>;
}

/**
 * Starts a dev server and one worker per queue, on task queues named with `prefix` so suites sharing a
 * machine never take each other's tasks. `env(folder)` adds variables (paths in the suite's folder).
 */
export async function startTemporalSuite(
  prefix: string,
  queues: ReadonlyArray<'cpu' | 'gpu-h200'>,
  env: (folder: string) => Record<string, string> = () => ({}),
): Promise<TemporalSuite> {
  const folder = await mkdtemp(join(tmpdir(), `flywheel-${prefix}suite-`));
  const server = await startTemporal();
  const suiteEnv = {
    TEMPORAL_ADDRESS: server.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: prefix,
    FLYWHEEL_COMPILE_CACHE: join(folder, 'compile-cache'),
    ...env(folder),
  };
  const workers = await Promise.all(queues.map((queue) => startWorker(queue, suiteEnv)));
  return { server, workers, env: suiteEnv, folder, stop: () => stopSuite(workers, server, folder) };
}
