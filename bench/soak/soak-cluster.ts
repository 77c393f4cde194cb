import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio, type MinioServer } from '../../test/support/minio.js';
import { startTemporal, startWorker, type TemporalServer, type WorkerProcess } from '../../test/support/temporal.js';
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
  cpu: WorkerProcess[];
  gpu: WorkerProcess;
  /** The environment of every Flywheel process of the soak (workers and CLI): through the proxies, on `store`. */
  env: Record<string, string>;
  /** Replaces a worker (after a kill) with a fresh one on the same queue. */
  restartWorker(worker: WorkerProcess): Promise<WorkerProcess>;
  stop(): Promise<void>;
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
  const env = {
    ...minio.env,
    AWS_ENDPOINT_URL: `http://${minioProxy.address}`,
    TEMPORAL_ADDRESS: temporalProxy.address,
    FLYWHEEL_TASK_QUEUE_PREFIX: 'soak-',
    FLYWHEEL_COMPILE_CACHE: join(folder, 'compile-cache'),
    FLYWHEEL_S3_LOCAL: join(folder, 's3-local'),
    FLYWHEEL_SOAK_EXEC_LOG: execLog,
    // A lost worker's activity goes elsewhere after 3 s instead of 30.
    FLYWHEEL_HEARTBEAT_TIMEOUT: 'PT3S',
  };
  const cpu = await Promise.all(Array.from({ length: options.cpuWorkers }, () => startWorker('cpu', env)));
  const gpu = await startWorker('gpu-h200', env);
  const cluster: SoakCluster = {
    folder,
    execLog,
    temporal,
    minio,
    temporalProxy,
    minioProxy,
    cpu,
    gpu,
    env,
    restartWorker: async (worker) => {
      await worker.stop('SIGKILL');
      const fresh = await startWorker(worker.queue, env);
      if (worker.queue === 'gpu-h200') cluster.gpu = fresh;
      else cluster.cpu = cluster.cpu.map((w) => (w === worker ? fresh : w));
      return fresh;
    },
    stop: async () => {
      await Promise.all([...cluster.cpu, cluster.gpu].map((w) => w.stop('SIGKILL').catch(() => undefined)));
      await Promise.all([temporalProxy.stop(), minioProxy.stop()]);
      await Promise.all([temporal.stop(), minio.stop()]);
      await rm(folder, { recursive: true, force: true });
    },
  };
  return cluster;
}
