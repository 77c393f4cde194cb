import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalBlobCache } from '../../cache/blob-cache.js';
import type { Digest } from '../../cache/digest.js';
import { tempDir } from './helpers.js';

const digest = (c: string): Digest => c.repeat(64) as Digest;

describe('LocalBlobCache', () => {
  it('keeps at most its size limit, evicting the least recently used blob first', async () => {
    const dir = await tempDir();
    const cache = new LocalBlobCache(join(dir, 'cache'), 10);
    const add = async (c: string, secondsAgo: number): Promise<void> => {
      const file = join(dir, `incoming-${c}`);
      await writeFile(file, 'xxxx'); // 4 bytes each
      const path = await cache.adopt(file, digest(c));
      const when = new Date(Date.now() - secondsAgo * 1000);
      await utimes(path, when, when);
    };
    await add('a', 30);
    await add('b', 20);
    expect(await cache.lookup(digest('a'))).toBeDefined(); // a is now the most recently used
    await add('c', 0); // 12 bytes > 10: b, the least recently used, goes
    expect(await cache.lookup(digest('b'))).toBeUndefined();
    expect(await cache.lookup(digest('a'))).toBeDefined();
    expect(await cache.lookup(digest('c'))).toBeDefined();
  });

  it('never evicts the blob it just adopted, even if alone it exceeds the limit', async () => {
    const dir = await tempDir();
    const cache = new LocalBlobCache(join(dir, 'cache'), 2);
    const file = join(dir, 'big');
    await writeFile(file, 'larger than the limit');
    await cache.adopt(file, digest('d'));
    expect(await cache.lookup(digest('d'))).toBeDefined();
  });
});
