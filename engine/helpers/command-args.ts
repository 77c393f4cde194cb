import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/**
 * Parses a pipeline command's arguments (node's `parseArgs`, positionals allowed): an option it does
 * not know, or one missing its value, is bad usage (exit 2) whose fix is the command's usage.
 *
 * @example
 * ```ts
 * run: async (args) => {
 *   const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, 'flywheel wordcloud <runId> [--json]');
 *   ...
 * }
 * ```
 */
export function parseCommandArgs<O extends Options>(args: readonly string[], options: O, usage: string): Parsed<O> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, `write ${usage}`);
  }
}
