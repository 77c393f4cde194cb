import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

interface KappaJson {
  kappa: number | null;
  ci: [number, number] | null;
  n: number;
  dropped: number;
  droppedLines: number[];
}

/** A temp dir holding each file as one label per line, ending in a single newline. */
async function raters(files: Record<string, string[]>): Promise<string> {
  const cwd = await tempDir('flywheel-kappa');
  for (const [name, labels] of Object.entries(files)) await writeFile(join(cwd, name), `${labels.join('\n')}\n`);
  return cwd;
}

describe('flywheel kappa: missing labels and bad input', () => {
  it('a blank line is an error naming file:line, not a silent shift of every later pair', async () => {
    // Dropping the blanks before pairing would pair (a,a) (b,b) (a,a) (b,b): kappa 1 with n = 4.
    const cwd = await raters({ 'a.txt': ['a', 'b', '', 'a', 'b'], 'b.txt': ['a', 'b', 'a', '', 'b'] });
    const result = await runCli(['kappa', 'a.txt', 'b.txt'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('a.txt:3 is blank');
    expect(result.stderr).toContain('blank lines: a.txt:3, b.txt:4');
    expect(result.stderr).toMatch(/fix: fill in the label .*--missing drop/);
    // Whitespace-only lines are blank too; --json changes nothing.
    await writeFile(join(cwd, 'c.txt'), 'a\n  \nb\na\nb\n');
    const spaces = await runCli(['kappa', 'b.txt', 'c.txt', '--json'], { cwd });
    expect(spaces.code).toBe(2);
    expect(spaces.stderr).toContain('b.txt:4 is blank');
    expect(spaces.stderr).toContain('c.txt:2');
  });

  it('a single trailing newline is not a blank line, but an extra empty line at the end is', async () => {
    const cwd = await raters({ 'a.txt': ['good', 'bad', 'good'], 'b.txt': ['good', 'bad', 'bad'] });
    await writeFile(join(cwd, 'no-newline.txt'), 'good\nbad\nbad');
    const fine = await runCli(['kappa', 'a.txt', 'no-newline.txt', '--json'], { cwd });
    expect(fine.code, fine.stderr).toBe(0);
    expect(JSON.parse(fine.stdout)).toMatchObject({ n: 3, dropped: 0 });
    await writeFile(join(cwd, 'extra.txt'), 'good\nbad\nbad\n\n');
    const extra = await runCli(['kappa', 'a.txt', 'extra.txt'], { cwd });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('a.txt has 3 line(s) and extra.txt has 4');
  });

  it('--missing drop drops every item either rater left blank, pairing by line, and says how many', async () => {
    // Lines 3 and 4 go; the pairs left are (good,good) (bad,good) (bad,bad) (good,good): po 0.75, pe 0.5, kappa 0.5.
    const cwd = await raters({
      'a.txt': ['good', 'bad', '', 'good', 'bad', 'good'],
      'b.txt': ['good', 'good', 'bad', '', 'bad', 'good'],
    });
    const json = await runCli(['kappa', 'a.txt', 'b.txt', '--missing', 'drop', '--json'], { cwd });
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as KappaJson;
    expect(result).toMatchObject({ n: 4, dropped: 2, droppedLines: [3, 4] });
    expect(result.kappa).toBeCloseTo(0.5, 12);
    expect(json.stderr).toContain('dropped 2 item(s) with a blank label (lines 3, 4); 4 item(s) remain');

    const text = await runCli(['kappa', 'a.txt', 'b.txt', '--missing', 'drop'], { cwd });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('kappa (unweighted) = 0.5000');
    expect(text.stdout).toContain('n = 4');
    expect(text.stderr).toContain('dropped 2 item(s)');

    // The same blank on both sides is one item; with nothing blank the count is 0.
    await writeFile(join(cwd, 'c.txt'), 'good\nbad\n\ngood\nbad\ngood\n');
    expect(JSON.parse((await runCli(['kappa', 'a.txt', 'c.txt', '--missing', 'drop', '--json'], { cwd })).stdout)).toMatchObject({ n: 5, dropped: 1 });
    await writeFile(join(cwd, 'full.txt'), 'good\nbad\nbad\ngood\nbad\ngood\n');
    const none = await runCli(['kappa', 'full.txt', 'full.txt', '--missing', 'drop'], { cwd });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toContain('dropped 0 item(s) with a blank label; 6 item(s) remain');
  });

  it('--missing takes only drop; files of different lengths name both files and counts', async () => {
    const cwd = await raters({ 'a.txt': ['good', 'bad', 'good'], 'b.txt': ['good', 'bad'] });
    const policy = await runCli(['kappa', 'a.txt', 'a.txt', '--missing', 'keep'], { cwd });
    expect(policy.code).toBe(2);
    expect(policy.stderr).toContain('--missing keep');
    expect(policy.stderr).toContain('--missing drop');
    for (const extra of [[], ['--missing', 'drop']]) {
      const lengths = await runCli(['kappa', 'a.txt', 'b.txt', ...extra], { cwd });
      expect(lengths.code).toBe(2);
      expect(lengths.stderr).toContain('a.txt has 3 line(s) and b.txt has 2');
    }
  });

  it('--labels with an empty or a repeated entry is a usage error naming it', async () => {
    const cwd = await raters({ 'a.txt': ['good', 'bad', 'good'], 'b.txt': ['good', 'bad', 'bad'] });
    for (const [labels, says] of [
      ['bad,,good', 'has an empty entry (entry 2 of 3)'],
      ['bad,good,', 'has an empty entry (entry 3 of 3)'],
      ['bad,good,bad', 'lists "bad" twice'],
      ['bad, good ,good', 'lists "good" twice'],
    ] as const) {
      const result = await runCli(['kappa', 'a.txt', 'b.txt', '--labels', labels], { cwd });
      expect(result.code, labels).toBe(2);
      expect(result.stderr).toContain(`--labels ${JSON.stringify(labels)} ${says}`);
      expect(result.stderr).toContain('fix:');
    }
    const ordered = await runCli(['kappa', 'a.txt', 'b.txt', '--labels', 'bad,needs_improvement,good', '--weights', 'linear', '--json'], { cwd });
    expect(ordered.code, ordered.stderr).toBe(0);
    expect(JSON.parse(ordered.stdout)).toMatchObject({ n: 3, labels: ['bad', 'needs_improvement', 'good'] });
  });
});
