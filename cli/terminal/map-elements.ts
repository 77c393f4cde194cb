import { WHICH_ELEMENTS, type ElementCounts } from '../../cache/records.js';
import { describeRanges } from '../../engine/core/index-ranges.js';

// How the CLI words a map step's elements (`p.map`): a count line for the step line and the plan, and
// `show`'s few lines of which elements ran, failed or were left out, compact at 10,000 elements.

/** Failed elements `show` lists one by one; the rest are counted. */
export const FAILURES_SHOWN = 10;

const n = (value: number): string => value.toLocaleString('en-US');

/** Counts are of elements (an element of a map with a batchSize over 1 receives a batch of items). */
const unit = (count: number): string => (count === 1 ? 'element' : 'elements');

/** `1 of 10,000 elements ran, 9,999 cached` (and `, 2 failed` when some did): what a finished map did. */
export function elementsDone(e: ElementCounts): string {
  const parts = [`${n(e.executed)} of ${n(e.total)} ${unit(e.total)} ran`];
  if (e.cached > 0) parts.push(`${n(e.cached)} cached`);
  if (e.failed > 0) parts.push(`${n(e.failed)} failed`);
  return parts.join(', ');
}

/** `10,000 elements`: a map that came from the cache whole. */
export function elementsCached(e: ElementCounts): string {
  return `${n(e.total)} ${unit(e.total)}`;
}

/** `2 of 12 elements to run (3, 7), 10 cached`: what a plan's map would do. */
export function elementsPlanned(e: { total: number; cached: number; run: string }): string {
  const toRun = e.total - e.cached;
  const ranges = e.run === '' ? '' : ` (${describeRanges(e.run)})`;
  return `${n(toRun)} of ${n(e.total)} ${unit(e.total)} to run${ranges}, ${n(e.cached)} cached`;
}

/**
 * `show`'s lines for a map step: one line of counts, then the executed elements as ranges, each failed
 * one (the first few, then a count) and those the stored collection leaves out. Each line starts with `indent`.
 */
export function elementLines(e: ElementCounts, indent: string): string[] {
  const batch = e.batchSize !== undefined && e.batchSize > 1 ? ` (${n(e.batchSize)} items each)` : '';
  const lines = [`${indent}map over ${n(e.total)} ${unit(e.total)}${batch}: ${n(e.executed)} executed, ${n(e.cached)} cached, ${n(e.failed)} failed`];
  if (e.executedIndices !== undefined && e.executedIndices !== '') lines.push(`${indent}executed ${describeRanges(e.executedIndices)}`);
  // Reasons of their own (code changed, expired, a broken blob); which elements changed, were added or failed last time the step's reason says.
  for (const r of e.reasons ?? [])
    if (!WHICH_ELEMENTS.has(r.reason)) lines.push(`${indent}${n(r.count)} of ${n(e.total)} ${unit(e.total)}: ${r.reason} (${describeRanges(r.indices)})`);
  if (e.kept !== undefined)
    lines.push(`${indent}${n(e.kept.count)} of ${n(e.total)} kept from other code: ${e.kept.reason} (${describeRanges(e.kept.indices)})`);
  for (const [attempts, indices] of Object.entries(e.retried ?? {}))
    lines.push(`${indent}${attempts} attempts: ${unit(/^\d+$/.test(indices) ? 1 : 2)} ${describeRanges(indices)}`);
  const failures = e.failures ?? [];
  for (const f of failures.slice(0, FAILURES_SHOWN))
    lines.push(`${indent}failed ${unit(1)} ${n(f.index)}${f.attempts === undefined ? '' : ` after ${f.attempts} attempts`}: ${f.code} ${firstLine(f.message)}`);
  // The record keeps the first 100 failures; `failed` counts them all.
  const more = e.failed - Math.min(failures.length, FAILURES_SHOWN);
  if (more > 0) lines.push(`${indent}and ${n(more)} more failed ${unit(more)}`);
  if (e.leftOut !== undefined && e.leftOut !== '') lines.push(`${indent}left out of the collection: ${describeRanges(e.leftOut)}`);
  return lines;
}

const firstLine = (text: string): string => {
  const line = text.split('\n')[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
};
