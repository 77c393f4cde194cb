// Where a run's prices come from: FLYWHEEL_PRICES (a JSON file), else flywheel.prices.json in the
// directory the run starts in. None: runs report resources (GPU-hours, tokens, CPU time), not money.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { zodIssues } from '../../cache/errors.js';
import { PriceTable } from '../../cache/records.js';
import { FlywheelError } from '../errors.js';

export const PRICES_FILE = 'flywheel.prices.json';

/** A price table and the file it was read from. */
export interface Prices {
  source: string;
  table: PriceTable;
}

const EXAMPLE = '{ "currency": "USD", "gpuHour": { "H200": 3.5 }, "tokensPerMillion": { "gpt-4.1-mini": { "input": 0.4, "output": 1.6 } } }';

/**
 * The run's price table, read and checked once before the run starts: a file that is named but missing,
 * not JSON or not a price table stops the run with what is wrong (a week's cost in the wrong currency or
 * from half a table would mislead more than no money at all).
 */
export function loadPrices(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Prices | undefined {
  const named = env.FLYWHEEL_PRICES;
  if (named === '') return undefined;
  const path = named === undefined ? join(cwd, PRICES_FILE) : isAbsolute(named) ? named : resolve(cwd, named);
  if (named === undefined && !existsSync(path)) return undefined;
  const where = named === undefined ? path : `FLYWHEEL_PRICES=${named}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FlywheelError('PRICES_INVALID', `cannot read the price table ${where}: ${(error as Error).message}`, {
      fix: `point FLYWHEEL_PRICES at a JSON price table (e.g. ${EXAMPLE}), or unset it to report resources without money`,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FlywheelError('PRICES_INVALID', `the price table ${where} is not JSON: ${(error as Error).message}`, {
      fix: `write it as JSON, e.g. ${EXAMPLE}`,
    });
  }
  const parsed = PriceTable.safeParse(value);
  if (!parsed.success)
    throw new FlywheelError('PRICES_INVALID', `the price table ${where} is not valid: ${zodIssues(parsed.error)}`, {
      fix: `prices are numbers of zero or more under currency, cpuHour, gpuHour, tokensPerMillion and counts, e.g. ${EXAMPLE}`,
    });
  return { source: path, table: parsed.data };
}
