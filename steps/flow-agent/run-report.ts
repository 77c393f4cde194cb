import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineStep, dir } from 'flywheel';
import { costSection } from './cost-section.js';

const SECTIONS = [
  ['trust', 'Judge trust: may its verdicts act?'],
  ['benchmark', 'Benchmark (deterministic metrics)'],
  ['judged', 'Benchmark judged by the calibrated judge'],
  ['calibration', 'Judge calibration'],
  ['drift', 'Judge drift on the golden set'],
  ['mirror', 'Production mirroring'],
] as const;

const body = (html: string): string => /<body>([\s\S]*)<\/body>/.exec(html)?.[1] ?? '';

/**
 * The run's report in one place: whether the judge may act (and why not), the benchmark per slice, the judge's verdicts, its calibration
 * (confusion matrix, kappa with intervals beside the human ceiling, the search history chart), its
 * drift history on the golden set, the mirrored win rates by slice, and what producing these results
 * cost (GPU-hours, tokens, money by the run's price table) — HTML and Markdown.
 */
export const runReport = defineStep({
  id: 'flow-run-report',
  version: 3,
  description: 'Gather the evaluation, judge and mirroring reports of the run into one, with what the results cost',
  inputs: { trust: dir(), benchmark: dir(), judged: dir(), calibration: dir(), drift: dir(), mirror: dir() },
  outputs: { report: dir() },
  // Its lineage carries what each upstream result cost: the week's cost beside the model's metrics.
  lineage: true,
  async run({ inputs, outputs, lineage }) {
    const parts: Array<{ name: string; title: string; html: string; markdown: string }> = await Promise.all(
      SECTIONS.map(async ([name, title]) => ({
        name,
        title,
        html: body(await readFile(join(inputs[name], 'report.html'), 'utf8'))
          .replace(/<(\/?)h2>/g, '<$1h3>')
          .replace(/<(\/?)h1>/g, '<$1h2>'),
        markdown: (await readFile(join(inputs[name], 'report.md'), 'utf8')).replace(/^#/gm, '##'),
      })),
    );
    const cost = costSection(lineage);
    parts.push({
      name: 'cost',
      title: 'What these results cost',
      html: cost.html.replace(/<(\/?)h1>/g, '<$1h2>'),
      markdown: cost.markdown.replace(/^#/gm, '##'),
    });
    const toc = parts.map((p) => `<li><a href="#${p.name}">${p.title}</a></li>`).join('');
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>flow-agent run report</title><style>body{font-family:sans-serif;max-width:60em}table{display:block;max-width:100%;overflow-x:auto}td,th{padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}section{border-top:1px solid #ccc;margin-top:2em}figcaption{font-size:90%;color:#555}</style></head><body><h1>flow-agent run report</h1><ol>${toc}</ol>${parts.map((p) => `<section id="${p.name}">${p.html}</section>`).join('\n')}</body></html>\n`;
    await mkdir(outputs.report, { recursive: true });
    await writeFile(join(outputs.report, 'report.html'), html);
    await writeFile(join(outputs.report, 'report.md'), `# flow-agent run report\n\n${parts.map((p) => p.markdown).join('\n')}`);
  },
});
