import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './child-process.js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export const MINIO_BIN = process.env.FLYWHEEL_MINIO_BIN ?? join(process.env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'bin', 'minio');

/** Credentials of the throwaway test server; tests check that they never reach a log line or record. */
export const MINIO_USER = 'flywheel-test-user';
export const MINIO_SECRET = 'flywheel-test-secret-9f3c1a';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface MinioServer {
  endpoint: string;
  dataDir: string;
  /** Environment for a Flywheel process using this server (AWS chain + endpoint). */
  env: Record<string, string>;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
  /** Stops (or kills, with SIGKILL) the server but keeps its data, for `restart`. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and data directory (after `halt`). */
  restart(): Promise<void>;
}

async function waitUntilLive(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`minio exited with ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(`${endpoint}/minio/health/live`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`minio did not answer on ${endpoint} within 30 s:\n${output()}`);
}

/** Starts a real MinIO on a free loopback port with a temporary data directory. */
export async function startMinio(): Promise<MinioServer> {
  if (!existsSync(MINIO_BIN)) throw new Error(`no MinIO server at ${MINIO_BIN}: run scripts/install-test-servers.sh (CI does) first`);
  // Not a per-test temp dir: the server outlives single tests, and its data goes when it is stopped.
  const root = await mkdtemp(join(tmpdir(), 'flywheel-minio-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const consolePort = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  let log = '';
  const launch = async (): Promise<void> => {
    log = '';
    child = spawn(MINIO_BIN, ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
      env: { ...process.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_SECRET, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await waitUntilLive(endpoint, child, () => log);
  };
  await launch();
  const env = { AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_SECRET, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: endpoint };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: MINIO_USER, secretAccessKey: MINIO_SECRET } });
  const halt = (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => stopChild(child, signal);
  return {
    endpoint,
    dataDir,
    env,
    client,
    createBucket: async (name) => void (await client.send(new CreateBucketCommand({ Bucket: name }))),
    halt,
    restart: launch,
    stop: async () => {
      await halt();
      await rm(root, { recursive: true, force: true });
    },
  };
}
