import { existsSync } from 'node:fs';
import { readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { acquireFileLock } from '../../cache/file-lock.js';
import { cacheModuleUrl, collectExit, spawnNodeScript, tempDir, waitForLine } from './helpers.js';

const LOCK_MODULE = cacheModuleUrl('file-lock');

/** Takes the lock `rounds` times, logging `start`/`end` around an async critical section. */
const CONTENDER = `
const [moduleUrl, lockPath, logPath, name, rounds] = process.argv.slice(1);
const { acquireFileLock } = await import(moduleUrl);
const { appendFile } = await import('node:fs/promises');
const { setTimeout: sleep } = await import('node:timers/promises');
let waits = 0;
for (let i = 0; i < Number(rounds); i++) {
  const release = await acquireFileLock(lockPath, (holder) => {
    if (waits++ === 0) console.log('waiting for ' + holder);
  });
  await appendFile(logPath, 'start ' + name + ' ' + i + '\\n');
  await sleep(5); // yield inside the critical section, so a broken lock would interleave
  await appendFile(logPath, 'end ' + name + ' ' + i + '\\n');
  await release();
}
console.log('done');
`;

/** Takes the lock, says so, then holds it until a line arrives on stdin (or forever). */
const HOLDER = `
const [moduleUrl, lockPath] = process.argv.slice(1);
const { acquireFileLock } = await import(moduleUrl);
const release = await acquireFileLock(lockPath);
console.log('locked');
process.stdin.once('data', async () => {
  await release();
  console.log('released');
  process.exit(0);
});
`;

/** An acquire whose onWait calls are recorded, with a promise for the first one. */
function acquireRecordingWaits(lockPath: string): { acquired: Promise<() => Promise<void>>; waits: string[]; firstWait: Promise<string> } {
  const waits: string[] = [];
  let announce: (holder: string) => void = () => undefined;
  const firstWait = new Promise<string>((resolve) => (announce = resolve));
  const acquired = acquireFileLock(lockPath, (holder) => {
    waits.push(holder);
    announce(holder);
  });
  return { acquired, waits, firstWait };
}

describe('acquireFileLock across processes', () => {
  it('lets exactly one of several waiters take over a lock whose holder died, one at a time', async () => {
    const dir = await tempDir();
    const lockPath = join(dir, 'key.lock');
    const logPath = join(dir, 'log');
    // A lock left by a process that no longer exists (pid above Linux's pid_max).
    await writeFile(lockPath, JSON.stringify({ host: hostname(), pid: 999_999_999, token: 'dead', since: new Date().toISOString() }));
    const names = ['a', 'b', 'c', 'd'];
    const children = names.map((name) => spawnNodeScript(CONTENDER, [LOCK_MODULE, lockPath, logPath, name, '3']));
    for (const result of await Promise.all(children.map(collectExit))) expect(result, result.stderr).toMatchObject({ code: 0 });
    const lines = (await readFile(logPath, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(2 * 3 * names.length);
    for (let i = 0; i < lines.length; i += 2)
      expect(lines[i + 1], `critical sections overlap at line ${i + 1}`).toBe((lines[i] as string).replace('start', 'end'));
    expect(existsSync(`${lockPath}.breaking`)).toBe(false);
  });

  it('never lets two processes into the critical section at once', async () => {
    const dir = await tempDir();
    const lockPath = join(dir, 'key.lock');
    const logPath = join(dir, 'log');
    const rounds = 10;
    // Hold the lock ourselves until both children are waiting, so they certainly contend.
    const releaseFirst = await acquireFileLock(lockPath);
    const children = ['a', 'b'].map((name) => spawnNodeScript(CONTENDER, [LOCK_MODULE, lockPath, logPath, name, String(rounds)]));
    const exits = children.map(collectExit);
    const waiting = await Promise.all(children.map((child) => waitForLine(child, /^waiting for /)));
    expect(waiting).toEqual([`waiting for pid ${process.pid} on ${hostname()}`, `waiting for pid ${process.pid} on ${hostname()}`]);
    await releaseFirst();

    const results = await Promise.all(exits);
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });

    const lines = (await readFile(logPath, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(2 * 2 * rounds);
    for (let i = 0; i < lines.length; i += 2) {
      const start = lines[i] as string;
      expect(start).toMatch(/^start [ab] \d+$/);
      expect(lines[i + 1], `critical sections overlap at line ${i + 1}`).toBe(start.replace('start', 'end'));
    }
    expect(new Set(lines).size).toBe(lines.length);
    expect(existsSync(lockPath)).toBe(false);
  });

  it('takes over a lock whose holder was killed with SIGKILL (dead pid on this host)', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    const holder = spawnNodeScript(HOLDER, [LOCK_MODULE, lockPath]);
    const holderExit = collectExit(holder);
    await waitForLine(holder, /^locked$/);

    const waiter = acquireRecordingWaits(lockPath);
    expect(await waiter.firstWait).toBe(`pid ${holder.pid} on ${hostname()}`);
    holder.kill('SIGKILL');
    expect(await holderExit).toMatchObject({ signal: 'SIGKILL' });

    const release = await waiter.acquired;
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(waiter.waits).toHaveLength(1);
    await release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('calls onWait once, however long it waits, and acquires when the holder releases', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    const holder = spawnNodeScript(HOLDER, [LOCK_MODULE, lockPath]);
    const holderExit = collectExit(holder);
    await waitForLine(holder, /^locked$/);

    const waiter = acquireRecordingWaits(lockPath);
    await waiter.firstWait;
    await sleep(400); // several poll intervals: a waiter that re-announced would do it now
    holder.stdin?.write('release\n');
    const release = await waiter.acquired;
    expect((await holderExit).stdout).toContain('released');
    expect(waiter.waits).toEqual([`pid ${holder.pid} on ${hostname()}`]);
    await release();
  });
});

describe('acquireFileLock staleness rules', () => {
  const foreignOwner = JSON.stringify({ host: `not-${hostname()}`, pid: 999_999, token: 'feedface', since: new Date().toISOString() });
  const longAgo = new Date(Date.now() - 5 * 60_000);

  it('does not judge another host’s lock by a local pid check: it waits', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    await writeFile(lockPath, foreignOwner);
    const waiter = acquireRecordingWaits(lockPath);
    expect(await waiter.firstWait).toBe(`pid 999999 on not-${hostname()}`);
    await rm(lockPath); // the other host releases
    await (
      await waiter.acquired
    )();
  });

  it('takes over another host’s lock once its heartbeat (mtime) is older than the stale limit', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    await writeFile(lockPath, foreignOwner);
    await utimes(lockPath, longAgo, longAgo);
    const waiter = acquireRecordingWaits(lockPath);
    const release = await waiter.acquired;
    expect(waiter.waits).toEqual([]);
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
  });

  it('waits on a torn lock file while it is fresh and takes it over once it is old', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    await writeFile(lockPath, '{"host":"some');
    const waiter = acquireRecordingWaits(lockPath);
    expect(await waiter.firstWait).toBe('another process');
    await utimes(lockPath, longAgo, longAgo);
    await (
      await waiter.acquired
    )();
    expect(waiter.waits).toHaveLength(1);
  });

  it('takes over a lock left under its own pid by an earlier process (a restarted container keeps hostname and pids)', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    await writeFile(
      lockPath,
      JSON.stringify({ host: hostname(), pid: process.pid, token: 'earlier', since: new Date().toISOString(), instance: 'an-earlier-process' }),
    );
    const waiter = acquireRecordingWaits(lockPath);
    const release = await waiter.acquired;
    expect(waiter.waits).toEqual([]);
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid: process.pid });
    expect(JSON.parse(await readFile(lockPath, 'utf8')).instance).not.toBe('an-earlier-process');
    await release();
  });

  it('release leaves alone a lock that someone else has taken over meanwhile', async () => {
    const lockPath = join(await tempDir(), 'key.lock');
    const release = await acquireFileLock(lockPath);
    await writeFile(lockPath, foreignOwner); // as if our lock had been judged stale and re-taken
    await release();
    expect(await readFile(lockPath, 'utf8')).toBe(foreignOwner);
  });
});
