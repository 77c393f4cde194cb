import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One block of a report: rendered both as Markdown and as a standalone HTML page. */
export type ReportBlock =
  | { kind: 'heading'; text: string; level?: 1 | 2 | 3 }
  | { kind: 'paragraph'; text: string }
  | { kind: 'table'; rows: string[][] }
  | { kind: 'figure'; svg: string; caption: string };

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function toMarkdown(blocks: readonly ReportBlock[]): string {
  const out: string[] = [];
  for (const block of blocks) {
    if (block.kind === 'heading') out.push(`${'#'.repeat(block.level ?? 2)} ${block.text}`, '');
    else if (block.kind === 'paragraph') out.push(block.text, '');
    else if (block.kind === 'figure') out.push(`*Figure (in report.html): ${block.caption}*`, '');
    else {
      const [head, ...body] = block.rows;
      if (head === undefined) continue;
      out.push(`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`), '');
    }
  }
  return out.join('\n');
}

export function toHtml(title: string, blocks: readonly ReportBlock[]): string {
  const body = blocks.map((block) => {
    if (block.kind === 'heading') return `<h${block.level ?? 2}>${escape(block.text)}</h${block.level ?? 2}>`;
    if (block.kind === 'paragraph') return `<p>${escape(block.text)}</p>`;
    if (block.kind === 'figure') return `<figure>${block.svg}<figcaption>${escape(block.caption)}</figcaption></figure>`;
    return `<table>${block.rows.map((r, i) => `<tr>${r.map((c) => (i === 0 ? `<th>${escape(c)}</th>` : `<td>${escape(c)}</td>`)).join('')}</tr>`).join('')}</table>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title><style>body{font-family:sans-serif;max-width:60em}table{display:block;max-width:100%;overflow-x:auto}td,th{padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}figcaption{font-size:90%;color:#555}</style></head><body>${body.join('\n')}</body></html>\n`;
}

/** Writes a report folder: `report.md` and a standalone `report.html` from the same blocks. */
export async function writeReport(folder: string, title: string, blocks: readonly ReportBlock[]): Promise<void> {
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'report.md'), toMarkdown(blocks));
  await writeFile(join(folder, 'report.html'), toHtml(title, blocks));
}

/**
 * A line chart as inline SVG: one polyline per series over x = 0..n-1, with horizontal reference
 * lines (a threshold, a ceiling) and the y range given.
 */
export function lineChart(options: {
  series: Array<{ name: string; values: Array<number | null>; color: string }>;
  references?: Array<{ name: string; value: number; color: string }>;
  yRange: [number, number];
  xLabel: string;
}): string {
  const width = 560;
  const height = 240;
  const pad = 40;
  const count = Math.max(1, ...options.series.map((s) => s.values.length));
  const x = (i: number): number => pad + (count === 1 ? 0 : (i * (width - 2 * pad)) / (count - 1));
  const [low, high] = options.yRange;
  const y = (v: number): number => height - pad - ((v - low) / (high - low || 1)) * (height - 2 * pad);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img">`];
  parts.push(
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#333"/>`,
  );
  for (const tick of [low, (low + high) / 2, high])
    parts.push(`<text x="${pad - 6}" y="${y(tick) + 4}" font-size="10" text-anchor="end">${tick.toFixed(2)}</text>`);
  for (let i = 0; i < count; i++) parts.push(`<text x="${x(i)}" y="${height - pad + 14}" font-size="10" text-anchor="middle">${i}</text>`);
  parts.push(`<text x="${width / 2}" y="${height - 6}" font-size="11" text-anchor="middle">${escape(options.xLabel)}</text>`);
  const references = options.references ?? [];
  references.forEach((ref, index) => {
    // Labels spread along the line, so references at nearly the same value stay readable.
    const labelX = pad + ((index + 1) * (width - 2 * pad)) / (references.length + 1);
    parts.push(
      `<line x1="${pad}" y1="${y(ref.value)}" x2="${width - pad}" y2="${y(ref.value)}" stroke="${ref.color}" stroke-dasharray="4 3"/><text x="${labelX}" y="${y(ref.value) - 3}" font-size="10" text-anchor="middle" fill="${ref.color}">${escape(ref.name)} ${ref.value.toFixed(2)}</text>`,
    );
  });
  options.series.forEach((series, index) => {
    const points = series.values.flatMap((v, i) => (v === null ? [] : [`${x(i)},${y(v)}`]));
    parts.push(`<polyline fill="none" stroke="${series.color}" stroke-width="2" points="${points.join(' ')}"/>`);
    for (const p of points) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${series.color}"/>`);
    parts.push(`<text x="${pad + 8}" y="${pad + 12 + index * 14}" font-size="11" fill="${series.color}">${escape(series.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
