import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

// A project of its own per test: a pipeline file and two step modules, so an edit to one step's module
// leaves the other step's code (and fingerprint) alone. Steps log each execution to $LOG.
export const FIRST = `import { appendFile, writeFile } from 'node:fs/promises';
import { defineStep, file } from 'flywheel';

export const first = defineStep({
  id: 'first',
  version: 1,
  outputs: { out: file({ fileName: 'first.txt' }) },
  async run({ outputs }) {
    await appendFile(process.env.LOG ?? '/dev/null', 'first\\n');
    await writeFile(outputs.out, 'hello\\n');
  },
});
`;

const SECOND = `import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { defineStep, file } from 'flywheel';

export const second = defineStep({
  id: 'second',
  version: 1,
  inputs: { in: file() },
  outputs: { out: file({ fileName: 'second.txt' }) },
  async run({ inputs, outputs }) {
    await appendFile(process.env.LOG ?? '/dev/null', 'second\\n');
    await writeFile(outputs.out, (await readFile(inputs.in, 'utf8')).toUpperCase());
  },
});
`;

const pipelineFile = (options = ''): string => `import { definePipeline } from 'flywheel';
import { first } from './steps/first.js';
import { second } from './steps/second.js';

export default definePipeline({
  name: 'fingerprinted',${options}
  build(p) {
    const a = p.add(first);
    p.add(second, { inputs: { in: a.out.out } });
  },
});
`;

export interface Project {
  cwd: string;
  log: string;
  env: Record<string, string>;
  edit(file: string, from: string, to: string): Promise<void>;
}

export async function project(options?: { pipelineOptions?: string; first?: string }): Promise<Project> {
  const cwd = await tempDir('flywheel-code');
  const outside = await tempDir('flywheel-code-cache');
  await mkdir(join(cwd, 'steps'));
  await writeFile(join(cwd, 'steps', 'first.ts'), options?.first ?? FIRST);
  await writeFile(join(cwd, 'steps', 'second.ts'), SECOND);
  await writeFile(join(cwd, 'pipeline.ts'), pipelineFile(options?.pipelineOptions));
  const log = join(outside, 'executions.log');
  return {
    cwd,
    log,
    env: { LOG: log, FLYWHEEL_COMPILE_CACHE: join(outside, 'compile-cache') },
    async edit(file, from, to) {
      const path = join(cwd, file);
      const text = await readFile(path, 'utf8');
      if (!text.includes(from)) throw new Error(`test setup: ${file} has no ${JSON.stringify(from)}`);
      await writeFile(path, text.replace(from, to));
    },
  };
}
