import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/cli.js';

// docs/architecture.md is where a newcomer looks first: its tree and its "Where do I change…?" table
// must name files and folders that exist, and the tree must list every folder of engine/.
const doc = readFileSync(join(REPO, 'docs', 'architecture.md'), 'utf8');

function section(title: string): string {
  const start = doc.indexOf(`## ${title}`);
  if (start < 0) throw new Error(`docs/architecture.md has no section "${title}"`);
  const end = doc.indexOf('\n## ', start + 3);
  return doc.slice(start, end < 0 ? undefined : end);
}

describe('docs/architecture.md', () => {
  it('"Where do I change…?" points at files that exist, one per row at least', () => {
    const rows = section('Where do I change…?')
      .split('\n')
      .filter((line) => line.startsWith('| ') && !line.startsWith('| to change') && !line.startsWith('| ---'));
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const row of rows) {
      const place = row.split('|')[2] ?? '';
      const paths = [...place.matchAll(/`([\w./-]+\/[\w./-]+\.(?:ts|tsx))`/g)].map((m) => m[1] as string);
      expect(paths.length, row).toBeGreaterThan(0);
      for (const path of paths) expect(existsSync(join(REPO, path)), `${path} (in: ${row})`).toBe(true);
    }
  });

  it('the tree names every folder of engine/, and only folders that exist', () => {
    const tree = section('The tree');
    const listed = [...tree.matchAll(/^ {2}([a-z-]+)\/ /gm)].map((m) => m[1] as string);
    const actual = readdirSync(join(REPO, 'engine')).filter((name) => statSync(join(REPO, 'engine', name)).isDirectory());
    expect(listed.sort()).toEqual(actual.sort());
    const top = [...tree.matchAll(/^([a-z-]+(?:\/[a-z-]+)?)\/ /gm)].map((m) => m[1] as string);
    for (const folder of top) expect(existsSync(join(REPO, folder)), folder).toBe(true);
  });
});
