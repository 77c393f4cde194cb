import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const created: string[] = [];

afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory for one test, removed after it. */
export async function tempDir(label = 'flywheel-test'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  created.push(dir);
  return dir;
}
