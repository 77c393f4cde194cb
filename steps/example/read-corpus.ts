import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Reads every .txt document of a corpus directory, in name order. */
export async function readCorpus(directory: string): Promise<string[]> {
  const names = (await readdir(directory)).filter((n) => n.endsWith('.txt')).sort();
  return Promise.all(names.map((n) => readFile(join(directory, n), 'utf8')));
}
