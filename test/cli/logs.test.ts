import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, runJson, startCli, waitFor } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

const chatty = join(FIXTURES, 'chatty.ts');
const ticks = (text: string): number[] => [...text.matchAll(/tick (\d+) of/g)].map((m) => Number(m[1]));

describe('flywheel logs on the local store', () => {
  it('prints a finished step’s log, follows a running one to its end, picks a map element’s lines, and says what is wrong with a bad step', async () => {
    const cwd = await tempDir('logs-local');
    const run = startCli(['run', chatty, '--set', 'talk.lines=12', '--set', 'talk.everyMs=150', '--json'], { cwd });
    let runId = '';
    await waitFor(async () => {
      const listed = JSON.parse((await runCli(['runs', '--json'], { cwd })).stdout || '[]') as Array<{ runId: string }>;
      runId = listed[0]?.runId ?? '';
      return runId !== '';
    }, 'the run to be recorded');
    const followed = await runCli(['logs', runId, 'talk', '--follow'], { cwd });
    expect(followed.code, followed.stderr).toBe(0);
    expect(ticks(followed.stdout)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect((await run.done).code).toBe(0);

    const stored = await runCli(['logs', runId, 'talk'], { cwd });
    expect(ticks(stored.stdout)).toHaveLength(12);
    expect(stored.stdout).toMatch(/step executed durationMs=\d+ attempts=1\n$/);
    const element = await runCli(['logs', runId, 'echo', '--element', '11'], { cwd });
    expect(element.stdout).toMatch(/^\S+ INFO {2}element 11: echo tick 12\n/);

    const again = await runJson(chatty, ['--set', 'talk.lines=12', '--set', 'talk.everyMs=150'], { cwd });
    const cached = await runCli(['logs', again.run.runId, 'talk'], { cwd });
    expect(cached.stderr).toContain(`the log of run ${runId}, which computed it`);
    expect(ticks(cached.stdout)).toHaveLength(12);

    const bad = await runCli(['logs', runId, 'nope'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('run ' + runId + ' has no step "nope"');
    expect(bad.stderr).toContain('its steps: talk, echo');
    const badElement = await runCli(['logs', runId, 'echo', '--element', 'two'], { cwd });
    expect(badElement.code).toBe(2);
    expect(badElement.stderr).toContain("--element two is not an element's index");
  }, 60_000);
});
