import { FlywheelError, UsageError } from '../cache/errors.js';

export { FlywheelError, UsageError };

/** Stable codes: tools and tests match on these, so never rename one. */
export type ProblemCode =
  | 'PIPELINE_CYCLE'
  | 'DUPLICATE_STEP_ID'
  | 'DUPLICATE_STEP_DEFINITION'
  | 'INVALID_STEP_ID'
  | 'INVALID_STEP_DEFINITION'
  | 'UNKNOWN_STEP'
  | 'UNKNOWN_INPUT'
  | 'UNKNOWN_OUTPUT'
  | 'INPUT_NOT_CONNECTED'
  | 'INPUT_KIND_MISMATCH'
  | 'MAP_INVALID'
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_HASHABLE'
  | 'CONFIG_OVERRIDE_INVALID'
  | 'PIPELINE_NOT_FOUND'
  | 'PIPELINE_LOAD_FAILED'
  | 'PROFILE_UNKNOWN';

/** One thing wrong with a pipeline: what, where, and how to fix it. */
export interface Problem {
  code: ProblemCode;
  /** The pipeline step (node) id the problem is about, when there is one. */
  stepId?: string;
  message: string;
  fix: string;
}

/** Thrown before anything runs when validation finds problems; carries all of them, not just the first. */
export class PipelineInvalidError extends FlywheelError {
  constructor(
    readonly pipeline: string,
    readonly problems: Problem[],
  ) {
    super('PIPELINE_INVALID', `pipeline ${pipeline} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`, {
      fix: 'fix the problems listed; nothing was run',
    });
    this.name = 'PipelineInvalidError';
  }
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  ✗ ${p.code}${p.stepId === undefined ? '' : ` [${p.stepId}]`}: ${p.message}\n    fix: ${p.fix}`).join('\n');
}
