import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readRecords } from '../../ui/server/paging.js';

/** Reads a whole buffer page by page from each page's `next`, as the run view does. */
async function allPages(bytes: Buffer, options: { maxRecords: number; maxBytes: number; csv?: boolean }): Promise<string[]> {
  const rows: string[] = [];
  for (let offset = 0, done = false; !done;) {
    // Small chunks, so records and characters straddle chunk boundaries.
    const chunks = Array.from({ length: Math.ceil((bytes.length - offset) / 7) }, (_, i) => bytes.subarray(offset + i * 7, offset + (i + 1) * 7));
    const page = await readRecords(Readable.from(chunks), offset, options);
    rows.push(...page.records);
    expect(page.next).toBeGreaterThan(offset - (page.done ? 1 : 0));
    offset = page.next;
    done = page.done || offset >= bytes.length;
  }
  return rows;
}

describe('paging a blob by byte offset', () => {
  it('counts bytes, not decoded text: a Latin-1 file pages without losing or mangling a row', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => `row ${i},caf\xe9 ${i}`);
    const latin1 = Buffer.from(rows.map((r) => `${r}\n`).join(''), 'latin1');
    const read = await allPages(latin1, { maxRecords: 3, maxBytes: 1024, csv: true });
    expect(read).toHaveLength(20);
    expect(read.map((r) => r.replace('\ufffd', 'é'))).toEqual(rows.map((r) => r.replace('\xe9', 'é')));
  });

  it('keeps multi-byte characters whole across chunks and pages, and CRLF lines', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `{"i":${i},"t":"ünïcødé ✓ ${'😀'.repeat(i % 3)}"}`);
    const bytes = Buffer.from(rows.map((r) => `${r}\r\n`).join(''), 'utf8');
    expect(await allPages(bytes, { maxRecords: 5, maxBytes: 1024 })).toEqual(rows);
  });
});
