import { FlywheelError, classifyError } from '../cache/errors.js';
import { PipelineInvalidError, formatProblems } from '../engine/errors.js';
import { UsageError } from './usage-error.js';

/**
 * Prints an error that ended a command and returns the exit code the one classification gives it:
 * 2 for bad input or configuration, 1 for anything else. Only errors nobody foresaw print a stack.
 */
export function reportError(error: unknown): number {
  if (error instanceof PipelineInvalidError) {
    process.stderr.write(`error: pipeline ${error.pipeline} is invalid; nothing was run.\n${formatProblems(error.problems)}\n`);
    return 2;
  }
  if (error instanceof FlywheelError) {
    const { code, message, fix, exit } = classifyError(error);
    process.stderr.write(`error${error instanceof UsageError ? '' : ` ${code}`}: ${message}\n${fix === undefined ? '' : `  fix: ${fix}\n`}`);
    return exit;
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  return 1;
}
