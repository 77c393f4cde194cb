import { readFile } from 'node:fs/promises';
import { AgreementInputError, bootstrapKappaInterval, cohenKappa, type KappaWeights } from '../../steps/judge/agreement.js';
import { UsageError } from '../usage-error.js';

async function labelsOf(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`, 'pass two files with one label per line');
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** `flywheel kappa a.txt b.txt [--labels l1,l2,...] [--weights linear|quadratic] [--json]`: agreement of two raters. */
export async function kappaCommand(args: { files: string[]; labels: string | undefined; weights: string | undefined; json: boolean }): Promise<number> {
  if (args.files.length !== 2)
    throw new UsageError('flywheel kappa takes two files', 'flywheel kappa a.txt b.txt (one label per line, same items in the same order)');
  const weights = (args.weights ?? 'unweighted') as KappaWeights;
  if (!['unweighted', 'linear', 'quadratic'].includes(weights))
    throw new UsageError(`--weights ${weights} is not linear or quadratic`, 'use --weights linear or --weights quadratic (leave it out for unweighted)');
  const [a, b] = await Promise.all(args.files.map(labelsOf));
  const options = { weights, ...(args.labels === undefined ? {} : { labels: args.labels.split(',').map((l) => l.trim()) }) };
  let result;
  try {
    result = cohenKappa(a as string[], b as string[], options);
  } catch (error) {
    if (error instanceof AgreementInputError) throw new UsageError(error.message, error.fix);
    throw error;
  }
  const bootstrap = result.defined ? bootstrapKappaInterval(a as string[], b as string[], { ...options, labels: result.labels }) : undefined;
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          kappa: result.defined ? result.kappa : null,
          ci: result.defined ? result.ci : null,
          bootstrapCi: bootstrap ?? null,
          n: result.n,
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
  lines.push(`confusion (rows: ${args.files[0] ?? ''}, columns: ${args.files[1] ?? ''}; labels ${result.labels.join(', ')}):`);
  for (const [i, row] of result.confusion.entries()) lines.push(`  ${(result.labels[i] ?? '').padEnd(18)} ${row.map((c) => String(c).padStart(5)).join('')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
