import { readdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../cache/digest.js';
import { LocalStore } from '../../cache/local-store.js';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executions, runCli, runJson, statuses } from '../support/cli.js';
import { project } from '../support/code-project.js';
import { tempDir } from '../support/temp-dir.js';

// A run writes one store and may reuse results from read-only layers (FLYWHEEL_READ_FROM): here a
// laptop's own cache over main's, both real directories, the CLI a real process.

/** Every file under `root` with its size and modification time: what "nothing was written" is checked against. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(path);
        out.push(`${relative(root, path)} ${info.size} ${info.mtimeMs}`);
      }
    }
  };
  await walk(root);
  return out.sort();
}

describe('read-only layers (FLYWHEEL_READ_FROM)', () => {
  it("reuses main's results without writing to main, runs what changed into its own store, and says where each hit came from", async () => {
    const p = await project();
    const main = join(await tempDir('flywheel-main-store'), 'main');
    const own = join(await tempDir('flywheel-laptop-store'), 'laptop');
    const filled = await runJson('pipeline.ts', [], { cwd: p.cwd, env: { ...p.env, FLYWHEEL_STORE: main } });
    expect(statuses(filled.run)).toEqual({ first: 'executed', second: 'executed' });
    const mainBefore = await snapshot(main);

    const laptop = { cwd: p.cwd, env: { ...p.env, FLYWHEEL_STORE: own, FLYWHEEL_READ_FROM: main } };
    const reused = await runJson('pipeline.ts', [], laptop);
    expect(reused.code, reused.stderr).toBe(0);
    expect(statuses(reused.run)).toEqual({ first: 'cached', second: 'cached' });
    const first = reused.run.steps.find((s) => s.id === 'first') as (typeof reused.run.steps)[number] & { layer?: string };
    expect(first.layer).toBe(`local store ${main}`);
    expect(first.reason).toBe(`cache hit (computed by run ${filled.run.runId}, read from local store ${main})`);
    const plan = JSON.parse((await runCli(['plan', 'pipeline.ts', '--json'], laptop)).stdout) as { steps: Array<{ id: string; reason: string }> };
    expect(plan.steps.find((s) => s.id === 'second')?.reason).toContain(`read from local store ${main}`);
    const shown = await runCli(['show', reused.run.runId], laptop);
    expect(shown.stdout).toContain(`read from local store ${main}`);
    // Outputs read through the layer; the laptop's store holds its run record and no result of main's.
    expect((await runCli(['output', 'second.out'], laptop)).stdout).toBe('HELLO\n');
    expect(JSON.parse((await runCli(['cache', 'ls', '--json'], laptop)).stdout)).toEqual([]);

    // A step the laptop re-runs reads its input from main and writes its result to the laptop's own store.
    const forced = await runJson('pipeline.ts', ['--force', 'second'], laptop);
    expect(statuses(forced.run)).toEqual({ first: 'cached', second: 'executed' });
    expect((JSON.parse((await runCli(['cache', 'ls', '--json'], laptop)).stdout) as Array<{ step: string }>).map((e) => e.step)).toEqual(['second']);
    const mixed = await runJson('pipeline.ts', [], laptop);
    const layers = Object.fromEntries(mixed.run.steps.map((s) => [s.id, (s as { layer?: string }).layer ?? 'own']));
    expect(layers).toEqual({ first: `local store ${main}`, second: 'own' });
    expect(await executions(p.log)).toEqual(['first', 'second', 'second']);

    // Nothing was written to main: no entries, blobs, leases, records or use times.
    expect(await snapshot(main)).toEqual(mainBefore);

    const itself = await runCli(['run', 'pipeline.ts'], { cwd: p.cwd, env: { ...laptop.env, FLYWHEEL_READ_FROM: own } });
    expect(itself.code).toBe(2);
    expect(itself.stderr).toContain(`FLYWHEEL_READ_FROM names ${own}, the store this run writes`);
  });

  it('reads a local layer without writing to it, not even the stamps that spare re-hashing large blobs', async () => {
    const root = join(await tempDir('flywheel-layer-stamps'), 'main');
    const writer = new LocalStore(root);
    const { digest } = await writer.putBytes(Buffer.alloc(4 * 1024 * 1024, 7));
    // Older than the 2 s a re-hash's stamp waits for (a file changed more recently is never stamped), so a read would stamp it.
    await sleep(2100);
    await rm(join(root, 'stamps'), { recursive: true, force: true });
    const before = await snapshot(root);
    const layer = new LocalStore(root, { readOnly: true });
    expect(await layer.checkBlob(digest as Digest, 'hit')).toBe('ok');
    expect((await layer.readBytes(digest as Digest)).length).toBe(4 * 1024 * 1024);
    expect(await snapshot(root)).toEqual(before);
    // The same reads by its writer stamp the blob (what a layer must not do to someone else's store).
    await writer.checkBlob(digest as Digest, 'hit');
    expect(await snapshot(root)).not.toEqual(before);
  });
});
