import { readFile } from 'node:fs/promises';
import { overridesFromFile, parseSetArguments, deepMerge, type ConfigOverrides } from '../../engine/validate/config-overrides.js';
import { FlywheelError, type Problem } from '../../engine/errors.js';
import { withProfileOverride } from '../../engine/validate/pipeline-profile.js';
import { validatePipeline, type ResolvedPipeline } from '../../engine/validate/validate.js';
import { loadPipeline } from '../../engine/load/load-pipeline.js';
import { UsageError } from '../../cache/errors.js';

export interface PipelineArgs {
  pipeline: string;
  set: string[];
  config: string | undefined;
  /** One of the pipeline's declared profiles; undefined = its default. */
  profile?: string | undefined;
  force: string[];
}

export interface PreparedPipeline {
  pipeline: ResolvedPipeline;
  /** The file it was loaded from. */
  path: string;
  /** Config file and `--set` merged: what a Temporal worker applies to rebuild the same pipeline. */
  overrides: ConfigOverrides;
}

/** Loads, configures (config file, then --set) and validates a pipeline: shared by `run`, `plan` and `schedule`. */
export async function preparePipeline(args: PipelineArgs): Promise<ResolvedPipeline> {
  return (await loadConfiguredPipeline(args)).pipeline;
}

export async function loadConfiguredPipeline(args: PipelineArgs): Promise<PreparedPipeline> {
  const { definition, path } = await loadPipeline(args.pipeline);
  const problems: Problem[] = [];
  let overrides: ConfigOverrides = {};
  if (args.config !== undefined) {
    let content: unknown;
    try {
      content = JSON.parse(await readFile(args.config, 'utf8'));
    } catch (error) {
      throw new FlywheelError('CONFIG_FILE_UNREADABLE', `config file ${args.config}: ${(error as Error).message}`, {
        fix: 'pass a readable JSON file: { "<step id>": { ...config } }',
      });
    }
    const fromFile = overridesFromFile(content, args.config);
    overrides = fromFile.overrides;
    problems.push(...fromFile.problems);
  }
  const fromSet = parseSetArguments(args.set);
  problems.push(...fromSet.problems);
  overrides = withProfileOverride(deepMerge(overrides, fromSet.overrides) as ConfigOverrides, args.profile);
  const pipeline = validatePipeline(definition, overrides, problems);
  for (const id of args.force) {
    if (!pipeline.byId.has(id))
      throw new UsageError(`--force ${id}: no such step in pipeline ${pipeline.name}`, `use one of: ${[...pipeline.byId.keys()].join(', ')}`);
  }
  return { pipeline, path, overrides };
}

/** How the run record shows what was chosen on the command line: the profile, then each --set. */
export function describeChoices(args: Pick<PipelineArgs, 'profile' | 'set'>): string[] {
  return [...(args.profile === undefined ? [] : [`--profile ${args.profile}`]), ...args.set];
}
