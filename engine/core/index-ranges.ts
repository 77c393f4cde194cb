// Sets of element indices as compact text (`0-9,4812`): what run records, plans and activity payloads
// carry instead of one number per element, so 10,000 elements cost a few bytes when most agree.

/** Sorted, distinct indices as ranges: `[0,1,2,5]` → `0-2,5`. */
export function toRanges(indices: Iterable<number>): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    const start = sorted[i] as number;
    let end = start;
    while (sorted[i + 1] === end + 1) end = sorted[++i] as number;
    parts.push(start === end ? String(start) : `${start}-${end}`);
    i++;
  }
  return parts.join(',');
}

/** The indices of a ranges text, in order. Throws on text `toRanges` would not write. */
export function fromRanges(text: string): number[] {
  if (text === '') return [];
  const out: number[] = [];
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (match === null) throw new Error(`not an index range: ${JSON.stringify(part)}`);
    const start = Number(match[1]);
    const end = match[2] === undefined ? start : Number(match[2]);
    for (let i = start; i <= end; i++) out.push(i);
  }
  return out;
}

/** Ranges for people: `4,812` or `0–9,999` (thousands grouped, an en dash), the first few then a count. */
export function describeRanges(text: string, most = 5): string {
  if (text === '') return 'none';
  const parts = text.split(',');
  const shown = parts.slice(0, most).map((part) =>
    part
      .split('-')
      .map((n) => Number(n).toLocaleString('en-US'))
      .join('–'),
  );
  return parts.length > most ? `${shown.join(', ')} and ${parts.length - most} more ranges` : shown.join(', ');
}
