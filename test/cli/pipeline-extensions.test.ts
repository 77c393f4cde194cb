import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, runJson, startCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// A pipeline author's project of its own: a pipeline that adds a compare section and a command through
// its definition's `extensions`, which the generic CLI and run view find by the pipeline's name.
const PIPELINE = `import { readFile, writeFile } from 'node:fs/promises';
import { defineStep, definePipeline, file, UsageError } from 'flywheel';
import { z } from 'zod';

const count = defineStep({
  id: 'count',
  version: 1,
  config: z.object({ n: z.number().default(1) }),
  outputs: { total: file({ fileName: 'total.txt' }) },
  async run({ config, outputs }) {
    await writeFile(outputs.total, String(config.n * 10));
  },
});

export default definePipeline({
  name: 'counted',
  build(p) {
    p.add(count);
  },
  extensions: {
    async compare({ store, a, b }) {
      if (process.env.BREAK_COMPARE) throw new Error('cannot read the totals');
      const total = async (run) => {
        const output = run.steps.find((s) => s.id === 'count')?.outputs.total;
        return output === undefined ? null : Number((await store.readBytes(output.digest)).toString('utf8'));
      };
      const [ta, tb] = [await total(a), await total(b)];
      const delta = ta === null || tb === null ? null : tb - ta;
      return {
        sections: [{ kind: 'totals', node: 'count', step: 'count', output: 'total', source: { a: 'count', b: 'count' }, rows: [{ slice: 'all', metric: 'total', scale: 'number', a: ta, b: tb, delta, deltaCi: null }] }],
        lines: ['', \`totals: \${ta} → \${tb}\`],
      };
    },
    commands: {
      hello: {
        usage: '<name> [--loud]',
        async run(args) {
          const [name] = args.filter((a) => !a.startsWith('--'));
          if (name === undefined) throw new UsageError('flywheel hello needs a name', 'write flywheel hello <name>');
          process.stdout.write(\`\${args.includes('--loud') ? 'HELLO' : 'hello'} \${name}\\n\`);
          return 0;
        },
      },
    },
  },
});
`;

async function authorProject(): Promise<{ cwd: string; env: Record<string, string> }> {
  const cwd = await tempDir('flywheel-extensions');
  await mkdir(join(cwd, 'pipelines'));
  await writeFile(join(cwd, 'pipelines', 'counted.ts'), PIPELINE);
  // The project's own zod, as `flywheel init` installs it.
  await mkdir(join(cwd, 'node_modules'));
  await symlink(join(REPO, 'node_modules', 'zod'), join(cwd, 'node_modules', 'zod'));
  return { cwd, env: { FLYWHEEL_COMPILE_CACHE: join(cwd, '.compile-cache') } };
}

describe("a pipeline's extensions: what it adds to the generic CLI and run view", () => {
  it('adds its sections to flywheel compare (text and --json), and says why when it cannot', async () => {
    const ws = await authorProject();
    const first = await runJson('counted', [], ws);
    const second = await runJson('counted', ['--set', 'count.n=3'], ws);
    expect([first.code, second.code], first.stderr + second.stderr).toEqual([0, 0]);

    const text = await runCli(['compare'], ws);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('re-ran   count');
    expect(text.stdout).toContain('totals: 10 → 30');

    const json = await runCli(['compare', '--json'], ws);
    const document = JSON.parse(json.stdout) as { sections: Array<{ kind: string; rows: Array<{ a: number; b: number; delta: number }> }>; warnings: string[] };
    expect(document.sections).toMatchObject([{ kind: 'totals', node: 'count', rows: [{ metric: 'total', a: 10, b: 30, delta: 20 }] }]);
    expect(document.warnings).toEqual([]);

    // A comparison the pipeline cannot make still compares the steps, and says why its sections are missing.
    const broken = await runCli(['compare'], { ...ws, env: { ...ws.env, BREAK_COMPARE: '1' } });
    expect(broken.code, broken.stderr).toBe(0);
    expect(broken.stdout).toContain('re-ran   count');
    expect(broken.stdout).not.toContain('totals:');
    expect(broken.stderr).toContain('warning: pipeline counted added no sections: cannot read the totals');
  });

  it('finds the pipeline a run was loaded from by path (the record keeps its file), and says so when that file is gone', async () => {
    const ws = await authorProject();
    await mkdir(join(ws.cwd, 'defs'));
    await rename(join(ws.cwd, 'pipelines', 'counted.ts'), join(ws.cwd, 'defs', 'weekly.ts'));
    const first = await runJson('defs/weekly.ts', [], ws);
    const second = await runJson('defs/weekly.ts', ['--set', 'count.n=2'], ws);
    expect([first.code, second.code], first.stderr + second.stderr).toEqual([0, 0]);
    const found = await runCli(['compare'], ws);
    expect([found.code, found.stderr]).toEqual([0, '']);
    expect(found.stdout).toContain('totals: 10 → 20');

    await rename(join(ws.cwd, 'defs', 'weekly.ts'), join(ws.cwd, 'defs', 'gone.ts'));
    const gone = await runCli(['compare'], ws);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).not.toContain('totals:');
    expect(gone.stderr).toContain(`warning: pipeline counted added no sections: its file ${join(ws.cwd, 'defs', 'weekly.ts')} is not on this machine`);
  });

  it('runs its commands as flywheel <name>, lists them, and refuses unknown ones with a way out', async () => {
    const ws = await authorProject();
    const hello = await runCli(['hello', 'world', '--loud'], ws);
    expect([hello.code, hello.stdout, hello.stderr]).toEqual([0, 'HELLO world\n', '']);
    const picked = await runCli(['hello', '--pipeline', 'counted', 'there'], ws);
    expect([picked.code, picked.stdout]).toEqual([0, 'hello there\n']);

    // The CLI's own options before the name are its own; --help prints the command's usage; --version is the CLI's.
    const global = await runCli(['--store', join(ws.cwd, 'elsewhere'), 'hello', 'world'], ws);
    expect([global.code, global.stdout, global.stderr]).toEqual([0, 'hello world\n', '']);
    const help = await runCli(['hello', '--help'], ws);
    expect([help.code, help.stdout]).toEqual([
      0,
      "usage: flywheel hello <name> [--loud]\n  (a command of pipeline counted; --pipeline <name> picks another's)\n",
    ]);
    expect((await runCli(['--version', 'hello'], ws)).stdout).toBe('flywheel 0.1.0\n');
    // One typo away from the CLI's own command: refused at once, with the command meant.
    const typo = await runCli(['rnu', 'counted'], ws);
    expect([typo.code, typo.stderr]).toEqual([
      2,
      'error: unknown command "rnu"\n  fix: did you mean flywheel run? (see flywheel --help and flywheel commands)\n',
    ]);

    const misuse = await runCli(['hello'], ws);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toBe('error: flywheel hello needs a name\n  fix: write flywheel hello <name>\n');

    const listed = await runCli(['commands'], ws);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('flywheel hello <name> [--loud]   (pipeline counted)');
    // Flywheel's own pipelines are found after the project's: the flagship's commands are there too.
    expect(listed.stdout).toMatch(/flywheel model ls .*\(pipeline flow-agent\)/);
    expect(listed.stdout).toMatch(/flywheel kappa <a\.txt> <b\.txt> .*\(pipeline flow-agent\)/);

    const unknown = await runCli(['hullo', 'world'], ws);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "hullo": not a flywheel command, and no pipeline declares it');
    expect(unknown.stderr).toContain('flywheel commands');
    const elsewhere = await runCli(['hello', '--pipeline', 'example', 'x'], ws);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('pipeline example declares no command "hello"');
  });

  it("gives the run view's comparison the same sections", async () => {
    const ws = await authorProject();
    const first = await runJson('counted', [], ws);
    const second = await runJson('counted', ['--set', 'count.n=2'], ws);
    const ui = startCli(['ui', '--port', '0'], ws);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let seen = '';
        ui.child.stdout?.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          const found = /http:\/\/127\.0\.0\.1:\d+\//.exec(seen);
          if (found !== null) resolve(found[0]);
        });
        ui.child.on('exit', () => reject(new Error(`flywheel ui exited: ${seen}`)));
      });
      const response = await fetch(`${url}api/compare/${first.run.runId}/${second.run.runId}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { sections: Array<{ kind: string; rows: Array<{ b: number }> }>; note: string | null };
      expect(body.note).toBeNull();
      expect(body.sections).toMatchObject([{ kind: 'totals', rows: [{ a: 10, b: 20 }] }]);
    } finally {
      ui.child.kill('SIGTERM');
      await ui.done;
    }
  });
});
