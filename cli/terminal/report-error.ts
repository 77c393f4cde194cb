import { FlywheelError, UsageError, classifyError } from '../../cache/errors.js';
import { PipelineInvalidError, formatProblems } from '../../engine/errors.js';

/**
 * Prints an error that ended a command and returns the exit code the one classification gives it:
 * 2 for bad input or configuration, 1 for anything else. Only errors nobody foresaw print a stack.
 * With `--json`, stdout still ends with one JSON document: `{ status: 'invalid', problems }` for an
 * invalid pipeline, `{ status: 'error', error: { code, message, fix } }` otherwise.
 */
export function reportError(error: unknown, options: { json?: boolean } = {}): number {
  const { exit, document } = describe(error);
  if (options.json === true) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  return exit;
}

function describe(error: unknown): { exit: number; document: Record<string, unknown> } {
  if (error instanceof PipelineInvalidError) {
    process.stderr.write(`error: pipeline ${error.pipeline} is invalid; nothing was run.\n${formatProblems(error.problems)}\n`);
    const problems = error.problems.map((p) => ({ code: p.code, stepId: p.stepId ?? null, message: p.message, fix: p.fix }));
    return { exit: 2, document: { status: 'invalid', pipeline: error.pipeline, problems } };
  }
  if (error instanceof FlywheelError) {
    const { code, message, fix, exit } = classifyError(error);
    process.stderr.write(`error${error instanceof UsageError ? '' : ` ${code}`}: ${message}\n${fix === undefined ? '' : `  fix: ${fix}\n`}`);
    return { exit, document: { status: 'error', error: { code, message, fix: fix ?? null } } };
  }
  process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
  return { exit: 1, document: { status: 'error', error: { code: 'INTERNAL', message: (error as Error).message ?? String(error), fix: null } } };
}
