import { readFile } from 'node:fs/promises';
import { parseCommandArgs, UsageError, type PipelineCommand } from 'flywheel';
import { AgreementInputError, bootstrapKappaInterval, cohenKappa, type KappaWeights } from '../stats/agreement.js';

const FIX_BLANK = 'fill in the label on that line, or pass --missing drop to drop that item from both raters';

/**
 * One entry per line, trimmed; a blank line stays as '' so that items pair by line number. A single
 * newline ending the file is not a blank line; an empty file has no lines.
 */
async function linesOf(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`, 'pass two files with one label per line');
  }
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n').map((l) => l.trim());
}

/** `--labels a,b,c`: every entry non-empty and listed once. */
function labelList(flag: string): string[] {
  const labels = flag.split(',').map((l) => l.trim());
  const empty = labels.indexOf('');
  if (empty >= 0)
    throw new UsageError(
      `--labels ${JSON.stringify(flag)} has an empty entry (entry ${empty + 1} of ${labels.length})`,
      'list each label once, separated by commas with nothing between two commas and no comma at the end, e.g. --labels bad,needs_improvement,good',
    );
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined)
    throw new UsageError(
      `--labels ${JSON.stringify(flag)} lists ${JSON.stringify(twice)} twice`,
      'list each label once, in their order, e.g. --labels bad,needs_improvement,good',
    );
  return labels;
}

const blankLines = (file: string, lines: readonly string[]): string[] => lines.flatMap((l, i) => (l === '' ? [`${file}:${i + 1}`] : []));

/**
 * `flywheel kappa a.txt b.txt [--labels l1,l2,...] [--weights linear|quadratic] [--missing drop] [--json]`:
 * agreement of two raters, the check a judge's calibration rests on. The flagship declares it.
 */
export const kappaCommand: PipelineCommand = {
  usage: '<a.txt> <b.txt> [--labels l1,l2,...] [--weights linear|quadratic] [--missing drop] [--json]',
  run: async (argv) => kappa(kappaArgs(argv)),
};

function kappaArgs(argv: readonly string[]): {
  files: string[];
  labels: string | undefined;
  weights: string | undefined;
  missing: string | undefined;
  json: boolean;
} {
  const { values, positionals } = parseCommandArgs(
    argv,
    { labels: { type: 'string' }, weights: { type: 'string' }, missing: { type: 'string' }, json: { type: 'boolean' } },
    `flywheel kappa ${kappaCommand.usage}`,
  );
  return { files: positionals, labels: values.labels, weights: values.weights, missing: values.missing, json: values.json ?? false };
}

async function kappa(args: {
  files: string[];
  labels: string | undefined;
  weights: string | undefined;
  missing: string | undefined;
  json: boolean;
}): Promise<number> {
  if (args.files.length !== 2)
    throw new UsageError('flywheel kappa takes two files', 'flywheel kappa a.txt b.txt (one label per line, same items in the same order)');
  const weights = (args.weights ?? 'unweighted') as KappaWeights;
  if (!['unweighted', 'linear', 'quadratic'].includes(weights))
    throw new UsageError(`--weights ${weights} is not linear or quadratic`, 'use --weights linear or --weights quadratic (leave it out for unweighted)');
  if (args.missing !== undefined && args.missing !== 'drop')
    throw new UsageError(
      `--missing ${args.missing} is not a way to treat missing labels`,
      'use --missing drop to drop every item a rater left blank (leave it out to make a blank line an error)',
    );
  const drop = args.missing === 'drop';
  const labels = args.labels === undefined ? undefined : labelList(args.labels);
  const [fileA, fileB] = args.files as [string, string];
  const [linesA, linesB] = await Promise.all([linesOf(fileA), linesOf(fileB)]);
  if (linesA.length !== linesB.length)
    throw new UsageError(
      `${fileA} has ${linesA.length} line(s) and ${fileB} has ${linesB.length}: the raters must label the same items, one per line`,
      `give both raters the same items, one label per line in the same order${drop ? '' : ' (leave a line blank and pass --missing drop for an item a rater skipped)'}`,
    );
  const blanks = [...blankLines(fileA, linesA), ...blankLines(fileB, linesB)];
  if (blanks.length > 0 && !drop)
    throw new UsageError(
      `${blanks[0] ?? ''} is blank: the label of that item is missing, and pairing the rest would shift every later pair${blanks.length > 1 ? ` (blank lines: ${blanks.slice(0, 10).join(', ')}${blanks.length > 10 ? `, and ${blanks.length - 10} more` : ''})` : ''}`,
      FIX_BLANK,
    );
  const droppedLines = linesA.flatMap((l, i) => (l === '' || linesB[i] === '' ? [i + 1] : []));
  const kept = linesA.flatMap((l, i) => (l === '' || linesB[i] === '' ? [] : [i]));
  const a = kept.map((i) => linesA[i] as string);
  const b = kept.map((i) => linesB[i] as string);
  const options = { weights, ...(labels === undefined ? {} : { labels }) };
  let result;
  try {
    result = cohenKappa(a, b, options);
  } catch (error) {
    if (error instanceof AgreementInputError) throw new UsageError(error.message, error.fix);
    throw error;
  }
  const bootstrap = result.defined ? bootstrapKappaInterval(a, b, { ...options, labels: result.labels }) : undefined;
  if (drop)
    process.stderr.write(
      `--missing drop: dropped ${droppedLines.length} item(s) with a blank label${droppedLines.length > 0 ? ` (${droppedLines.length === 1 ? 'line' : 'lines'} ${droppedLines.slice(0, 20).join(', ')}${droppedLines.length > 20 ? `, and ${droppedLines.length - 20} more` : ''})` : ''}; ${a.length} item(s) remain\n`,
    );
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          kappa: result.defined ? result.kappa : null,
          ci: result.defined ? result.ci : null,
          bootstrapCi: bootstrap ?? null,
          n: result.n,
          dropped: droppedLines.length,
          droppedLines,
          weights,
          labels: result.labels,
          confusion: result.confusion,
          undefinedReason: result.defined ? null : result.reason,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const lines = result.defined
    ? [
        `kappa (${weights}) = ${result.kappa.toFixed(4)}  95% CI [${result.ci[0].toFixed(4)}, ${result.ci[1].toFixed(4)}] (asymptotic)${bootstrap ? `, [${bootstrap[0].toFixed(4)}, ${bootstrap[1].toFixed(4)}] (bootstrap)` : ''}  n = ${result.n}`,
      ]
    : [`kappa (${weights}) is undefined: ${result.reason}  n = ${result.n}`];
  lines.push(`confusion (rows: ${fileA}, columns: ${fileB}; labels ${result.labels.join(', ')}):`);
  for (const [i, row] of result.confusion.entries()) lines.push(`  ${(result.labels[i] ?? '').padEnd(18)} ${row.map((c) => String(c).padStart(5)).join('')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
