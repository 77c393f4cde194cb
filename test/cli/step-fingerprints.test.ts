import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ElementCounts } from '../../cache/records.js';
import { elementsOf, executions, REPO, runCli, runJson, statuses, type JsonRun } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// Fingerprints per step: a step's code is what its defining statement reaches, so editing one step of a
// file re-runs that step (and what its changed output reaches), never its neighbours. Each test writes a
// project of its own; steps log each execution to $LOG.

/** A → B → C in one file, with a helper each of A and B uses alone, and a top-level constant C and B share. */
const ABC = `import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { definePipeline, defineStep, file } from 'flywheel';

const LOG = process.env.LOG ?? '/dev/null';
const BRACKETS = ['[', ']'];

/** Used by a alone. */
function greeting(): string {
  return 'hello';
}

/** Used by b alone. */
const shout = (text: string): string => text.toUpperCase();

export const a = defineStep({
  id: 'a',
  version: 1,
  outputs: { out: file() },
  async run({ outputs }) {
    await appendFile(LOG, 'a\\n');
    await writeFile(outputs.out, greeting());
  },
});

export const b = defineStep({
  id: 'b',
  version: 1,
  inputs: { in: file() },
  outputs: { out: file() },
  async run({ inputs, outputs }) {
    await appendFile(LOG, 'b\\n');
    await writeFile(outputs.out, shout(await readFile(inputs.in, 'utf8')));
  },
});

export const c = defineStep({
  id: 'c',
  version: 1,
  inputs: { in: file() },
  outputs: { out: file() },
  async run({ inputs, outputs }) {
    await appendFile(LOG, 'c\\n');
    await writeFile(outputs.out, BRACKETS.join(await readFile(inputs.in, 'utf8')));
  },
});

export default definePipeline({
  name: 'abc',
  build(p) {
    const x = p.add(a);
    const y = p.add(b, { inputs: { in: x.out.out } });
    p.add(c, { inputs: { in: y.out.out } });
  },
});
`;

interface Project {
  cwd: string;
  env: Record<string, string>;
  log: string;
  write(file: string, text: string): Promise<void>;
  edit(file: string, from: string, to: string): Promise<void>;
  run(extra?: string[]): Promise<JsonRun & { stderr: string }>;
  plan(): Promise<{ steps: Array<{ id: string; decision: string; reasonCodes: string[]; reason: string; warning?: string; elements?: ElementCounts }> }>;
}

async function project(files: Record<string, string>): Promise<Project> {
  const cwd = await tempDir('flywheel-fp');
  const outside = await tempDir('flywheel-fp-cache');
  const log = join(outside, 'executions.log');
  const env = { LOG: log, FLYWHEEL_COMPILE_CACHE: join(outside, 'compile-cache') };
  const write = async (file: string, text: string): Promise<void> => {
    await mkdir(dirname(join(cwd, file)), { recursive: true });
    await writeFile(join(cwd, file), text);
  };
  for (const [file, text] of Object.entries(files)) await write(file, text);
  // A pipeline project has its own zod, as a user's does.
  await mkdir(join(cwd, 'node_modules'));
  await symlink(join(REPO, 'node_modules', 'zod'), join(cwd, 'node_modules', 'zod'));
  return {
    cwd,
    env,
    log,
    write,
    async edit(file, from, to) {
      const text = await readFile(join(cwd, file), 'utf8');
      if (!text.includes(from)) throw new Error(`test setup: ${file} has no ${JSON.stringify(from)}`);
      await writeFile(join(cwd, file), text.replace(from, to));
    },
    async run(extra = []) {
      const { code, run, stderr } = await runJson('pipeline.ts', extra, { cwd, env });
      expect(code, stderr).toBe(0);
      return { ...run, stderr };
    },
    async plan() {
      const result = await runCli(['plan', 'pipeline.ts', '--json'], { cwd, env });
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as Awaited<ReturnType<Project['plan']>>;
    },
  };
}

const codesOf = (run: JsonRun, id: string): string[] | undefined => run.steps.find((s) => s.id === id)?.reasonCodes;

describe('a code fingerprint per step', () => {
  it('in a file defining A → B → C, editing B re-runs B (and C only if its output changed), never A; a version bump re-runs no neighbour', async () => {
    const p = await project({ 'pipeline.ts': ABC });
    expect(statuses(await p.run())).toEqual({ a: 'executed', b: 'executed', c: 'executed' });

    // B's body, same output: B alone re-runs, C stays cached (early cutoff), A is untouched.
    await p.edit('pipeline.ts', "shout(await readFile(inputs.in, 'utf8'))", "shout(String(await readFile(inputs.in, 'utf8')))");
    const planned = await p.plan();
    expect(planned.steps.map((s) => [s.id, s.decision])).toEqual([
      ['a', 'cached'],
      ['b', 'run'],
      ['c', 'pending'],
    ]);
    expect(planned.steps[1]?.reason).toBe('code changed since this result (version 1 unchanged): pipeline.ts');
    const sameOutput = await p.run();
    expect(statuses(sameOutput)).toEqual({ a: 'cached', b: 'executed', c: 'cached' });
    expect(codesOf(sameOutput, 'b')).toEqual(['code-changed']);

    // B's body, other output: C re-runs because its input changed, not because of its code.
    await p.edit(
      'pipeline.ts',
      'const shout = (text: string): string => text.toUpperCase();',
      'const shout = (text: string): string => `${text.toUpperCase()}!`;',
    );
    const otherOutput = await p.run();
    expect(statuses(otherOutput)).toEqual({ a: 'cached', b: 'executed', c: 'executed' });
    expect(codesOf(otherOutput, 'c')).toEqual(['upstream-changed']);

    // A helper only A uses: A re-runs; its output is the same, so nothing below it does.
    await p.edit('pipeline.ts', "return 'hello';", "return ['hel', 'lo'].join('');");
    expect(statuses(await p.run())).toEqual({ a: 'executed', b: 'cached', c: 'cached' });

    // A version bump of B: B re-runs for its version, C is not re-run for B's code.
    await p.edit('pipeline.ts', "id: 'b',\n  version: 1,", "id: 'b',\n  version: 2,");
    const bumped = await p.run();
    expect(statuses(bumped)).toEqual({ a: 'cached', b: 'executed', c: 'cached' });
    expect(codesOf(bumped, 'b')).toEqual(['version-changed']);

    // What C shares with nobody else: C alone.
    await p.edit('pipeline.ts', "const BRACKETS = ['[', ']'];", "const BRACKETS = ['<', '>'];");
    expect(statuses(await p.run())).toEqual({ a: 'cached', b: 'cached', c: 'executed' });
    expect(await executions(p.log)).toEqual(['a', 'b', 'c', 'b', 'b', 'c', 'a', 'b', 'c']);

    // Top-level code that runs for its effect can change any step of the module: every one re-runs.
    await p.edit(
      'pipeline.ts',
      "const LOG = process.env.LOG ?? '/dev/null';",
      "const LOG = process.env.LOG ?? '/dev/null';\nprocess.env.FLYWHEEL_FP_TEST ??= 'set';",
    );
    const effect = await p.run();
    expect(statuses(effect)).toEqual({ a: 'executed', b: 'executed', c: 'executed' });
    expect(codesOf(effect, 'c')).toEqual(['code-changed']);
    expect((await p.plan()).steps.map((s) => s.decision)).toEqual(['cached', 'cached', 'cached']);
  }, 120_000);

  it('leaves a step alone when code it does not reach is added or removed around it in its file', async () => {
    const p = await project({ 'pipeline.ts': ABC });
    await p.run();
    await p.edit(
      'pipeline.ts',
      "const LOG = process.env.LOG ?? '/dev/null';",
      "const LOG = process.env.LOG ?? '/dev/null';\nconst UNUSED = 42;\nfunction unused(): number {\n  return UNUSED;\n}",
    );
    await p.edit(
      'pipeline.ts',
      '/** Used by b alone. */',
      '/** Used by b alone. */\nexport const extra = defineStep({ id: "extra", version: 1, run() {} });\n',
    );
    expect((await p.plan()).steps.map((s) => [s.id, s.decision])).toEqual([
      ['a', 'cached'],
      ['b', 'cached'],
      ['c', 'cached'],
    ]);
  }, 60_000);

  it('follows a step made by a factory in another module: editing the factory re-runs its steps, editing one call re-runs that step', async () => {
    const p = await project({
      'steps/factory.ts': `import { writeFile, appendFile } from 'node:fs/promises';
import { defineStep, file } from 'flywheel';
export function writer(id: string, text: string) {
  return defineStep({
    id,
    version: 1,
    outputs: { out: file() },
    async run({ outputs }) {
      await appendFile(process.env.LOG ?? '/dev/null', id + '\\n');
      await writeFile(outputs.out, text);
    },
  });
}
`,
      'pipeline.ts': `import { definePipeline } from 'flywheel';
import { writer } from './steps/factory.js';
const one = writer('one', 'first');
const two = writer('two', 'second');
export default definePipeline({ name: 'factory', build(p) { p.add(one); p.add(two); } });
`,
    });
    await p.run();
    await p.edit('pipeline.ts', "writer('two', 'second')", "writer('two', 'second!')");
    expect(statuses(await p.run())).toEqual({ one: 'cached', two: 'executed' });
    await p.edit('steps/factory.ts', 'await writeFile(outputs.out, text);', 'await writeFile(outputs.out, text + "\\n");');
    const both = await p.run();
    expect(statuses(both)).toEqual({ one: 'executed', two: 'executed' });
    expect(both.steps.find((s) => s.id === 'one')?.reason).toBe('code changed since this result (version 1 unchanged): steps/factory.ts');
  }, 60_000);

  it('sees the files a step declares in codeFiles (a Python script it runs) by the same rule, and names them', async () => {
    const step = `import { appendFile, writeFile } from 'node:fs/promises';
import { defineStep, definePipeline, file } from 'flywheel';
const log = (id: string) => appendFile(process.env.LOG ?? '/dev/null', id + '\\n');
export const train = defineStep({
  id: 'train',
  version: 1,
  outputs: { out: file() },
  codeFiles: ['trainer/**/*.py'],
  async run({ outputs }) {
    await log('train');
    await writeFile(outputs.out, 'model');
  },
});
export const other = defineStep({
  id: 'other',
  version: 1,
  outputs: { out: file() },
  async run({ outputs }) {
    await log('other');
    await writeFile(outputs.out, 'other');
  },
});
export default definePipeline({ name: 'code-files', build(p) { p.add(train); p.add(other); } });
`;
    const p = await project({ 'pipeline.ts': step, 'trainer/train.py': 'print("lr 0.1")\n', 'trainer/lib/data.py': 'ROWS = 10\n' });
    await p.run();
    await p.edit('trainer/lib/data.py', 'ROWS = 10', 'ROWS = 20');
    const planned = await p.plan();
    expect(planned.steps.map((s) => [s.id, s.decision, s.reason])).toEqual([
      ['train', 'run', 'code changed since this result (version 1 unchanged): trainer/lib/data.py'],
      ['other', 'cached', expect.stringMatching(/^cache hit/)],
    ]);
    expect(statuses(await p.run())).toEqual({ train: 'executed', other: 'cached' });
    // A new file the glob matches is code too.
    await p.write('trainer/lib/extra.py', 'X = 1\n');
    expect((await p.plan()).steps[0]?.reason).toBe('code changed since this result (version 1 unchanged): trainer/lib/extra.py (newly imported)');
    // train and other run side by side: which logs first varies.
    expect((await executions(p.log)).sort()).toEqual(['other', 'train', 'train']);
  }, 60_000);

  it('keeps one result per code version under one key: two branches sharing a store stop evicting each other', async () => {
    const p = await project({ 'pipeline.ts': ABC });
    await p.run(); // branch main
    await p.edit('pipeline.ts', "return 'hello';", "return 'hello from a branch';"); // branch feature: a's code and output
    expect(statuses(await p.run())).toEqual({ a: 'executed', b: 'executed', c: 'executed' });
    await p.edit('pipeline.ts', "return 'hello from a branch';", "return 'hello';"); // back on main
    const main = await p.run();
    expect(statuses(main)).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    await p.edit('pipeline.ts', "return 'hello';", "return 'hello from a branch';"); // and the branch again
    expect(statuses(await p.run())).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    expect(await executions(p.log)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  }, 60_000);
});

/** A map over six items in a module of its own; `tag` is in the step's code, outside its key. */
const MAPPED = (options = '') => `import { appendFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { definePipeline, defineStep, file, json } from 'flywheel';

const items = defineStep({
  id: 'items',
  version: 1,
  outputs: { list: file({ fileName: 'items.jsonl' }) },
  async run({ outputs }) {
    await writeFile(outputs.list, [0, 1, 2, 3, 4, 5].map((n) => JSON.stringify({ n }) + '\\n').join(''));
  },
});

const label = defineStep({
  id: 'label',
  version: 1,${options}
  inputs: { item: json(z.object({ n: z.number() })) },
  outputs: { out: json(z.object({ n: z.number(), tag: z.string() })) },
  async run({ inputs }) {
    await appendFile(process.env.LOG ?? '/dev/null', 'label ' + inputs.item.n + '\\n');
    return { out: { n: inputs.item.n, tag: 'x' } };
  },
});

export default definePipeline({
  name: 'mapped-code',
  build(p) {
    const source = p.add(items, { id: 'items' });
    p.map(label, { id: 'label', over: { item: source.out.list } });
  },
});
`;

describe('a map step whose code changed', () => {
  it('reports code-changed for its elements in plan, run --json and show', async () => {
    const p = await project({ 'pipeline.ts': MAPPED() });
    await p.run();
    await p.edit('pipeline.ts', "tag: 'x'", "tag: 'y'");
    const label = (await p.plan()).steps.find((s) => s.id === 'label');
    const sentence = 'code changed since this result (version 1 unchanged): pipeline.ts';
    expect(label).toMatchObject({ decision: 'run', reasonCodes: ['code-changed'], reason: `${sentence}; map over 6 elements: 0 cached, 6 to run` });
    expect(label?.elements?.reasons).toEqual([{ codes: ['code-changed'], reason: sentence, count: 6, indices: '0-5' }]);

    const run = await p.run();
    const step = run.steps.find((s) => s.id === 'label');
    expect(step?.reasonCodes).toEqual(['code-changed']);
    const elements = await elementsOf(run.runId, 'label', p);
    expect(elements?.reasons).toEqual([{ codes: ['code-changed'], reason: sentence, count: 6, indices: '0-5' }]);
    const show = await runCli(['show', run.runId], p);
    expect(show.stdout).toContain(`6 of 6 elements: ${sentence} (0–5)`);
  }, 60_000);

  it("under onCodeChange: 'warn' keeps every element's result and counts them in the warning", async () => {
    const p = await project({ 'pipeline.ts': MAPPED("\n  onCodeChange: 'warn',") });
    await p.run();
    await p.edit('pipeline.ts', "tag: 'x'", "tag: 'y'");
    const warned = (await p.plan()).steps.find((s) => s.id === 'label');
    expect(warned).toMatchObject({ decision: 'cached' });
    expect(warned?.warning).toContain('kept the cached results of all 6 elements');

    // One element's input changes: it runs; the other five are kept from the old code, and counted.
    await p.edit('pipeline.ts', '[0, 1, 2, 3, 4, 5]', '[0, 1, 2, 3, 4, 50]');
    const run = await p.run();
    const label = run.steps.find((s) => s.id === 'label');
    expect(label?.status).toBe('executed');
    expect(run.stderr).toContain(
      "warning: step label: code changed since this result (version 1 unchanged): pipeline.ts; kept the cached results of 5 of 6 elements (onCodeChange: 'warn')",
    );
    const elements = await elementsOf(run.runId, 'label', p);
    expect(elements).toMatchObject({ executed: 1, cached: 5, kept: { count: 5, indices: '0-4', codes: ['code-changed'] } });
  }, 60_000);
});
