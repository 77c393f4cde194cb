// Reading a log that is still being written (the local store's live file of a running step): a page of
// whole lines from a byte offset, so a reader can follow it with the offset the last page ended at.
import { open, stat } from 'node:fs/promises';

/**
 * `bytes` cut after their last line end, or, when they hold none and are not `atEnd`, before an
 * incomplete UTF-8 sequence (a line longer than a page still comes through, in pieces of whole characters).
 */
export function wholeLines(bytes: Buffer, atEnd: boolean): Buffer {
  if (atEnd) return bytes;
  const nl = bytes.lastIndexOf(10);
  if (nl !== -1) return bytes.subarray(0, nl + 1);
  let end = bytes.length;
  // Back off an incomplete UTF-8 sequence: continuation bytes, then its lead byte.
  while (end > 0 && ((bytes[end - 1] as number) & 0xc0) === 0x80) end--;
  if (end > 0 && (bytes[end - 1] as number) >= 0xc0) end--;
  return end === 0 ? bytes : bytes.subarray(0, end);
}

/** A page of a log file being written: whole lines, at most `maxBytes`, from `offset`; `next` is where the following page starts. */
export async function readLogFilePage(path: string, offset: number, maxBytes: number): Promise<{ text: string; offset: number; next: number; size: number }> {
  const size = (await stat(path)).size;
  const start = Math.min(offset, size);
  const length = Math.min(maxBytes, size - start);
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, start);
    const bytes = wholeLines(buffer.subarray(0, bytesRead), false);
    // A writer still appending: only whole lines; a last line without newline waits for the next page unless it is all there is.
    return { text: bytes.toString('utf8'), offset: start, next: start + bytes.length, size };
  } finally {
    await handle.close();
  }
}
