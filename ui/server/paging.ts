import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** A page of records (lines, or CSV records) read from a byte offset: `next` is the byte offset after the last one. */
export interface RecordPage {
  records: string[];
  next: number;
  /** The stream ended after the last record returned. */
  done: boolean;
}

/**
 * Where the first complete record in `text` ends (the index just past its newline), or -1. With `csv`,
 * newlines inside double quotes belong to the field.
 */
function recordEnd(text: string, from: number, csv: boolean): number {
  if (!csv) {
    const nl = text.indexOf('\n', from);
    return nl === -1 ? -1 : nl + 1;
  }
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) quoted = !quoted;
    else if (c === 10 && !quoted) return i + 1;
  }
  return -1;
}

const stripEol = (raw: string): string => raw.replace(/\r?\n$/, '');

/**
 * Reads up to `maxRecords` records from `stream`, which starts at byte `offset`, and stops reading as
 * soon as it has them: a page of a huge file costs only the bytes it shows. A record longer than
 * `maxBytes` is cut there (its rest is the next page's first record).
 */
export async function readRecords(stream: Readable, offset: number, options: { maxRecords: number; maxBytes: number; csv?: boolean }): Promise<RecordPage> {
  const csv = options.csv ?? false;
  const decoder = new StringDecoder('utf8');
  const records: string[] = [];
  let pending = '';
  let next = offset;
  let ended = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk);
      let end: number;
      while (records.length < options.maxRecords && (end = recordEnd(pending, 0, csv)) !== -1) {
        const raw = pending.slice(0, end);
        records.push(stripEol(raw));
        next += Buffer.byteLength(raw);
        pending = pending.slice(end);
      }
      if (records.length < options.maxRecords && Buffer.byteLength(pending) > options.maxBytes) {
        // One record longer than a page: show its first part.
        const cut = Buffer.from(pending).subarray(0, options.maxBytes);
        const text = new StringDecoder('utf8').write(cut);
        records.push(text);
        next += Buffer.byteLength(text);
        pending = '';
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
  if (ended) {
    pending += decoder.end();
    if (pending !== '' && records.length < options.maxRecords) {
      records.push(stripEol(pending));
      next += Buffer.byteLength(pending);
      pending = '';
    }
  }
  return { records, next, done: ended && pending === '' };
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
