import { totalUsage, usageText, type Lineage } from 'flywheel';

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The report's cost section: what producing each result upstream cost (GPU-hours, tokens, CPU time, and
 * money by the run's price table), and who computed it: this run, or an earlier one whose result was
 * reused. Figures are as recorded when each result was computed, so a cached report still tells what
 * the model it describes cost to make. Markdown and HTML.
 */
export function costSection(lineage: Lineage | undefined): { markdown: string; html: string } {
  const title = 'What these results cost';
  const steps = (lineage?.steps ?? []).filter((s) => s.usage !== undefined).reverse();
  if (lineage === undefined || steps.length === 0) {
    const none = 'No usage was recorded for the results this report describes (they were computed before Flywheel kept usage).';
    return { markdown: `# ${title}\n\n${none}\n`, html: `<h1>${title}</h1><p>${none}</p>` };
  }
  const prices = lineage.run.prices;
  const rows = steps.map((s) => {
    const by = s.computedBy === undefined || s.computedBy === lineage.run.runId ? 'this run' : `run ${s.computedBy}`;
    return [s.id, usageText(s.usage, prices) || 'nothing measurable', by];
  });
  const own = steps.filter((s) => s.computedBy === undefined || s.computedBy === lineage.run.runId);
  const reused = steps.filter((s) => !own.includes(s));
  const total = [
    `This run computed ${own.length} of them: ${usageText(totalUsage(own.map((s) => s.usage)), prices) || 'nothing measurable'}.`,
    `Reused from earlier runs: ${reused.length === 0 ? 'none' : usageText(totalUsage(reused.map((s) => s.usage)), prices) || 'nothing measurable'}.`,
    prices === undefined
      ? 'Resources only: the run had no price table (FLYWHEEL_PRICES or flywheel.prices.json gives money).'
      : `Money in ${prices.currency} by the run's price table.`,
  ];
  const head = ['step', 'cost of its result', 'computed by'];
  const markdown = [
    `# ${title}`,
    '',
    ...total.map((t) => `- ${t}`),
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ].join('\n');
  const html = `<h1>${title}</h1><ul>${total.map((t) => `<li>${escape(t)}</li>`).join('')}</ul><table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  return { markdown, html };
}
