import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio, type MinioServer } from '../../test/support/minio.js';
import { startTemporal, startWorker, type TemporalServer, type WorkerProcess } from '../../test/support/temporal.js';
import { ScratchDisk } from './scratch-disk.js';
import { TcpProxy } from './tcp-proxy.js';

/** A real distributed Flywheel: Temporal (its state on disk, so a killed server resumes), MinIO, proxies before both, workers. */
export interface SoakCluster {
  folder: string;
  /** Where the soak's steps log their executions (see soak-steps.ts). */
  execLog: string;
  temporal: TemporalServer;
  minio: MinioServer;
  temporalProxy: TcpProxy;
  minioProxy: TcpProxy;
  /** The S3 stores' machine-local disk (FLYWHEEL_S3_LOCAL: blob copies and scratch), shared by every process. */
  scratch: ScratchDisk;
  cpu: WorkerProcess[];
  gpu: WorkerProcess;
  /** The environment of every Flywheel process of the soak (workers and CLI): through the proxies, on `store`. */
  env: Record<string, string>;
  /** Replaces a worker (after a kill) with a fresh one on the same queue. */
  restartWorker(worker: WorkerProcess): Promise<WorkerProcess>;
  /** Stops every worker (SIGTERM: a graceful drain), as an operator would before checking the store. */
  stopWorkers(): Promise<void>;
  /** Workers that exited without the soak stopping them, each with how it ended: a crash is a broken invariant. */
  readonly crashes: string[];
  /** Stops everything and removes its folder, first copying the executions log and every worker's output to `keepTo`, if given. */
  stop(keepTo?: string): Promise<void>;
}

const hostPort = (address: string): { host: string; port: number } => {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`);
  return { host: url.hostname, port: Number(url.port) };
};

/** Starts everything on free loopback ports, with `bucket` made in MinIO for the runs' stores. */
export async function startSoakCluster(options: { cpuWorkers: number; bucket: string }): Promise<SoakCluster> {
  const folder = await mkdtemp(join(tmpdir(), 'flywheel-soak-'));
  const execLog = join(folder, 'executions.log');
  const [temporal, minio] = await Promise.all([startTemporal({ persistent: true }), startMinio()]);
  await minio.createBucket(options.bucket);
  const temporalProxy = await TcpProxy.start(hostPort(temporal.address));
  const minioProxy = await TcpProxy.start(hostPort(minio.endpoint));
  // 192 MiB, of which the local blob copies of each store (the clean stream's, the faulted one's) keep at
  // most 32: the rest is scratch for the steps at work, and what killed workers left until it is swept.
  const scratch = await ScratchDisk.mount(join(folder, 's3-local'), 192 << 20);
  const env = {
    ...minio.env,
    AWS_ENDPOINT_URL: `http://${minioProxy.address}`,
    TEMPORAL_ADDRESS: temporalProxy.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: 'soak-',
    FLYWHEEL_COMPILE_CACHE: join(folder, 'compile-cache'),
    FLYWHEEL_S3_LOCAL: scratch.path,
    FLYWHEEL_S3_CACHE_MAX_BYTES: String(32 << 20),
    FLYWHEEL_SOAK_EXEC_LOG: execLog,
    // A lost worker's activity goes elsewhere after 3 s instead of 30.
    FLYWHEEL_HEARTBEAT_TIMEOUT: 'PT3S',
  };
  // Workers log at debug level: their answers from the server about each attempt are what a repeat is read from.
  const workerEnv = { ...env, FLYWHEEL_LOG_LEVEL: 'debug' };
  // Each worker's output is saved here when it is replaced or stopped: what a broken invariant is read from.
  const logs = join(folder, 'worker-logs');
  await mkdir(logs);
  const saveOutput = (worker: WorkerProcess): Promise<void> => writeFile(join(logs, `${worker.queue}-${worker.child.pid}.log`), worker.output());
  // A worker exits only when the soak stops or kills it; any other exit is a crash, reported and replaced.
  const stopping = new Set<number | undefined>();
  const crashes: string[] = [];
  const replaced = new Set<WorkerProcess>();
  let stopped = false;
  const stopWorker = (worker: WorkerProcess, signal: NodeJS.Signals): Promise<void> => {
    stopping.add(worker.child.pid);
    return worker.stop(signal);
  };
  const watched = (worker: WorkerProcess): WorkerProcess => {
    worker.child.once('exit', (code, signal) => {
      if (stopping.has(worker.child.pid) || stopped) return;
      crashes.push(`the ${worker.queue} worker (pid ${worker.child.pid}) exited on its own (${signal ?? `exit code ${code}`}): see its output`);
      void cluster.restartWorker(worker).catch(() => undefined);
    });
    return worker;
  };
  const cpu = await Promise.all(Array.from({ length: options.cpuWorkers }, async () => watched(await startWorker('cpu', workerEnv))));
  const gpu = watched(await startWorker('gpu-h200', workerEnv));
  const cluster: SoakCluster = {
    folder,
    execLog,
    temporal,
    minio,
    temporalProxy,
    minioProxy,
    scratch,
    cpu,
    gpu,
    env,
    crashes,
    restartWorker: async (worker) => {
      // Replaced already (a crash and a kill fault at once): one replacement is enough.
      if (replaced.has(worker)) return worker;
      replaced.add(worker);
      await stopWorker(worker, 'SIGKILL');
      await saveOutput(worker);
      const fresh = watched(await startWorker(worker.queue, workerEnv));
      if (worker.queue === 'gpu-h200') cluster.gpu = fresh;
      else cluster.cpu = cluster.cpu.map((w) => (w === worker ? fresh : w));
      return fresh;
    },
    stopWorkers: async () => {
      await Promise.all([...cluster.cpu, cluster.gpu].map((w) => stopWorker(w, 'SIGTERM')));
    },
    stop: async (keepTo) => {
      stopped = true;
      const workers = [...cluster.cpu, cluster.gpu];
      await Promise.all(workers.map((w) => stopWorker(w, 'SIGKILL').catch(() => undefined)));
      await Promise.all(workers.map(saveOutput));
      await Promise.all([temporalProxy.stop(), minioProxy.stop()]);
      await Promise.all([temporal.stop(), minio.stop()]);
      if (keepTo !== undefined) {
        await mkdir(keepTo, { recursive: true });
        await cp(execLog, join(keepTo, 'executions.log')).catch(() => undefined);
        await cp(logs, join(keepTo, 'worker-logs'), { recursive: true });
      }
      await scratch.unmount();
      await rm(folder, { recursive: true, force: true });
    },
  };
  return cluster;
}
