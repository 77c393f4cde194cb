import type { Readable } from 'node:stream';

/** A page of records (lines, or CSV records) read from a byte offset: `next` is the byte offset after the last one. */
export interface RecordPage {
  records: string[];
  next: number;
  /** The stream ended after the last record returned. */
  done: boolean;
}

/**
 * Where the first complete record in `bytes` ends (the index just past its newline), or -1. With `csv`,
 * newlines inside double quotes belong to the field. Bytes, not text: a newline and a quote are single
 * bytes in UTF-8, and offsets must count the file's bytes even where it is not valid UTF-8.
 */
function recordEnd(bytes: Buffer, csv: boolean): number {
  if (!csv) {
    const nl = bytes.indexOf(10);
    return nl === -1 ? -1 : nl + 1;
  }
  let quoted = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 34) quoted = !quoted;
    else if (c === 10 && !quoted) return i + 1;
  }
  return -1;
}

const text = (raw: Buffer): string => raw.toString('utf8').replace(/\r?\n$/, '');

/**
 * Reads up to `maxRecords` records from `stream`, which starts at byte `offset`, and stops reading as
 * soon as it has them: a page of a huge file costs only the bytes it shows. A record longer than
 * `maxBytes` is cut there (its rest is the next page's first record). `next` counts bytes of the file.
 */
export async function readRecords(stream: Readable, offset: number, options: { maxRecords: number; maxBytes: number; csv?: boolean }): Promise<RecordPage> {
  const csv = options.csv ?? false;
  const records: string[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let next = offset;
  let ended = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let end: number;
      while (records.length < options.maxRecords && (end = recordEnd(pending, csv)) !== -1) {
        records.push(text(pending.subarray(0, end)));
        next += end;
        pending = pending.subarray(end);
      }
      if (records.length < options.maxRecords && pending.length > options.maxBytes) {
        // One record longer than a page: show its first part.
        records.push(pending.subarray(0, options.maxBytes).toString('utf8'));
        next += options.maxBytes;
        pending = Buffer.alloc(0);
        ended = false;
        break;
      }
      if (records.length >= options.maxRecords) {
        ended = false;
        break;
      }
    }
  } finally {
    stream.destroy();
  }
  if (ended && pending.length > 0 && records.length < options.maxRecords) {
    records.push(text(pending));
    next += pending.length;
    pending = Buffer.alloc(0);
  }
  return { records, next, done: ended && pending.length === 0 };
}

/** Splits one CSV record into fields (RFC 4180: quoted fields, doubled quotes). */
export function csvFields(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const c = record[i];
    if (quoted) {
      if (c === '"') {
        if (record[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(stripCr(field));
  return fields;
}

const stripCr = (s: string): string => (s.endsWith('\r') ? s.slice(0, -1) : s);
