import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeScratchIn, removeLeftByDeadProcesses } from '../../cache/scratch.js';
import { tempDir } from '../support/temp-dir.js';

// A worker SIGKILLed mid-step (a preempted GPU host, an OOM kill) cannot remove its scratch. The chaos
// soak found such leftovers filling a worker's disk until every step failed with DISK_FULL: nothing but
// `cache gc` ever removed them. Now a process removes what this host's dead processes left, on first use.

/** A pid that was a process a moment ago and is gone now. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('scratch left by dead processes', () => {
  it("is removed when this host's process is gone; a live process's, another host's and an old unnamed one are kept", async () => {
    const dir = join(await tempDir('flywheel-scratch-sweep'), 'tmp');
    const host = hostname().replace(/\W/g, '_');
    const dead = deadPid();
    const entries = {
      killed: `train-${dead}@${host}-a1b2c3`,
      staging: `download-${dead}@${host}-0123456789ab`,
      live: `train-${process.pid}@${host}-d4e5f6`,
      otherHost: `train-${dead}@another_machine-a1b2c3`,
      unnamedHost: `train-${dead}-a1b2c3`,
    };
    mkdirSync(dir, { recursive: true });
    for (const [what, name] of Object.entries(entries)) {
      if (what === 'staging') writeFileSync(join(dir, name), 'half a download');
      else mkdirSync(join(dir, name, 'work'), { recursive: true });
    }
    expect(await removeLeftByDeadProcesses(dir)).toBe(2);
    expect(readdirSync(dir).sort()).toEqual([entries.live, entries.otherHost, entries.unnamedHost].sort());
  });

  it('names new scratch with its pid and host, so the sweep can tell', async () => {
    const made = makeScratchIn(join(await tempDir('flywheel-scratch-name'), 'tmp'), 'link-1');
    expect(made).toMatch(new RegExp(`/link_1-${process.pid}@${hostname().replace(/\W/g, '_')}-\\w{6}$`));
  });
});
