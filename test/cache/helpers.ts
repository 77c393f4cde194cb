import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { computeCacheKey } from '../../cache/cache-key.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import type { ActionEntry, OutputRecord, RunRecord, StepRunRecord } from '../../cache/records.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

const created: string[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  // A failed test may leave a child holding a lock forever: end the ones this file started.
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory under os.tmpdir() for one test, removed after it. */
export async function tempDir(label = 'flywheel-cache-test'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  created.push(dir);
  return dir;
}

/** A LocalStore in its own temp dir. */
export async function tempStore(): Promise<LocalStore> {
  return new LocalStore(join(await tempDir('flywheel-store'), 'store'));
}

/** Where LocalStore keeps a blob (its documented layout), for tests that damage stores on purpose. */
export function blobFile(store: LocalStore, digest: Digest): string {
  return join(store.root, 'cas', 'sha256', digest.slice(0, 2), digest);
}

export function actionFile(store: LocalStore, key: CacheKey): string {
  return join(store.root, 'ac', key.slice(0, 2), `${key}.json`);
}

/** Overwrites a stored blob in place (blobs are 0444; make it writable first even though root could write anyway). */
export async function corruptBlob(store: LocalStore, digest: Digest, bytes: string | Buffer): Promise<void> {
  const path = blobFile(store, digest);
  await chmod(path, 0o644);
  await writeFile(path, bytes);
}

/** A realistic cache key, distinct per name. */
export function keyOf(name: string): CacheKey {
  return computeCacheKey({ step: name, version: '1', ports: { inputs: {}, outputs: {} }, config: {}, inputs: {}, env: {} });
}

export function actionEntry(key: CacheKey, outputs: Record<string, OutputRecord>, runId = '20240101T000000.000Z-000000'): ActionEntry {
  return {
    format: 'flywheel.action/v1',
    key,
    step: 'step',
    createdAt: '2024-01-01T00:00:00.000Z',
    durationMs: 12,
    runId,
    outputs,
    components: { step: 'step', version: '1', ports: { inputs: {}, outputs: {} }, config: {}, inputs: {}, env: {} },
  };
}

export function stepRecord(id: string, cacheKey: CacheKey, outputs: Record<string, OutputRecord>): StepRunRecord {
  return { id, step: id, status: 'executed', cacheKey, reasonCodes: ['first-run'], reason: 'first run', outputs };
}

export function runRecord(fields: Pick<RunRecord, 'runId' | 'pipeline' | 'steps'> & Partial<RunRecord>): RunRecord {
  return {
    format: 'flywheel.run/v1',
    status: 'succeeded',
    startedAt: new Date().toISOString(),
    host: hostname(),
    pid: process.pid,
    overrides: [],
    ...fields,
  };
}

/** Run ids sort by start time, like engine/run-history's newRunId: `20240101T000003.000Z-000000`. */
export function runIdAt(second: number): string {
  return `20240101T0000${String(second).padStart(2, '0')}.000Z-000000`;
}

/** A child `node` running an inline ESM script with tsx, so it can import the cache's .ts sources. */
export function spawnNodeScript(script: string, args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, '--', ...args], {
    cwd: REPO, // resolves `--import tsx` from this repo's node_modules
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** The absolute file URL of a cache module, for `import` in a child script. */
export function cacheModuleUrl(name: string): string {
  return new URL(`../../cache/${name}.ts`, import.meta.url).href;
}

/** Resolves with the first stdout line matching `pattern`; rejects if the child exits first. */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        cleanup();
        resolve(line);
      }
    };
    const onStderr = (chunk: Buffer): void => {
      stderr += chunk.toString();
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`child exited (code ${code}, signal ${signal}) before printing ${pattern}; stderr: ${stderr}`));
    };
    const cleanup = (): void => {
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onStderr);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onStderr);
    child.on('exit', onExit);
  });
}

/** Resolves with the exit code and all output once the child exits. */
export function collectExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}
