import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, dir, file, json } from 'flywheel';
import { FlowWorkflow } from './flow-workflow.js';
import { predictWorkflow, RetrievalModel } from './retrieval-model.js';
import { METRICS, scoreExample, summarize, summarizeBySlice, type MetricSummary } from './score-workflow.js';

const BenchmarkLine = z.object({
  id: z.string(),
  request: z.string(),
  expected: FlowWorkflow,
  slices: z.object({ triggerCategory: z.string(), kind: z.enum(['create', 'edit']), email: z.boolean(), thirdParty: z.boolean() }),
});

const Summary = z.object({ examples: z.number().int(), valid: z.number().nullable(), trigger: z.number().nullable(), conditionOperators: z.number().nullable(), actionF1: z.number().nullable(), exact: z.number().nullable() });
export const EvaluationMetrics = z.object({ model: z.string(), offlineStandIn: z.boolean(), overall: Summary, slices: z.record(z.string(), Summary) });
export type EvaluationMetrics = z.infer<typeof EvaluationMetrics>;

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function table(rows: Array<[string, MetricSummary]>): string[][] {
  return [['slice', 'examples', ...METRICS], ...rows.map(([name, s]) => [name, String(s.examples), ...METRICS.map((m) => pct(s[m]))])];
}

/** The candidate on the held-out benchmark: deterministic metrics overall and per slice, as Markdown and HTML. */
export const evaluate = defineStep({
  id: 'flow-evaluate',
  version: 1,
  description: 'Score the candidate model on the held-out benchmark, per slice',
  inputs: { model: file(), benchmark: file() },
  outputs: { report: dir(), metrics: json(EvaluationMetrics) },
  async run({ inputs, outputs, progress }) {
    const model = RetrievalModel.parse(JSON.parse(await readFile(inputs.model, 'utf8')));
    const examples = (await readFile(inputs.benchmark, 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => BenchmarkLine.parse(JSON.parse(l)));
    const results = examples.map((example, i) => {
      if (i % 50 === 0) progress({ fraction: i / examples.length, message: `${i}/${examples.length} examples` });
      return { id: example.id, slices: example.slices, scores: scoreExample(predictWorkflow(model, example.request), example.expected) };
    });
    const metrics: EvaluationMetrics = { model: model.format, offlineStandIn: true, overall: summarize(results.map((r) => r.scores)), slices: summarizeBySlice(results) };
    const rows = table([['overall', metrics.overall], ...Object.entries(metrics.slices)]);
    const title = `Benchmark report — ${metrics.model}${metrics.offlineStandIn ? ' (offline stand-in model)' : ''}`;
    const markdown = [`# ${title}`, '', `${examples.length} held-out examples.`, '', `| ${(rows[0] as string[]).join(' | ')} |`, `|${(rows[0] as string[]).map(() => ' --- ').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}</style></head><body><h1>${escape(title)}</h1><p>${examples.length} held-out examples.</p><table>${rows.map((r, i) => `<tr>${r.map((c) => (i === 0 ? `<th>${escape(c)}</th>` : `<td>${escape(c)}</td>`)).join('')}</tr>`).join('')}</table></body></html>\n`;
    await mkdir(outputs.report, { recursive: true });
    await writeFile(join(outputs.report, 'report.md'), markdown);
    await writeFile(join(outputs.report, 'report.html'), html);
    return { metrics };
  },
});
