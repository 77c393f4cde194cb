import { readFile } from 'node:fs/promises';
import { overridesFromFile, parseSetArguments, deepMerge, type ConfigOverrides } from '../engine/config-overrides.js';
import { FlywheelError, type Problem } from '../engine/errors.js';
import { validatePipeline, type ResolvedPipeline } from '../engine/validate.js';
import { loadPipeline } from './load-pipeline.js';

export interface PipelineArgs {
  pipeline: string;
  set: string[];
  config: string | undefined;
}

/** Loads, configures (config file, then --set) and validates a pipeline: shared by `run` and `plan`. */
export async function preparePipeline(args: PipelineArgs): Promise<ResolvedPipeline> {
  const { definition } = await loadPipeline(args.pipeline);
  const problems: Problem[] = [];
  let overrides: ConfigOverrides = {};
  if (args.config !== undefined) {
    let content: unknown;
    try {
      content = JSON.parse(await readFile(args.config, 'utf8'));
    } catch (error) {
      throw new FlywheelError('CONFIG_FILE_UNREADABLE', `config file ${args.config}: ${(error as Error).message}`, { retryable: false, fix: 'pass a readable JSON file: { "<step id>": { ...config } }' });
    }
    const fromFile = overridesFromFile(content, args.config);
    overrides = fromFile.overrides;
    problems.push(...fromFile.problems);
  }
  const fromSet = parseSetArguments(args.set);
  problems.push(...fromSet.problems);
  overrides = deepMerge(overrides, fromSet.overrides) as ConfigOverrides;
  return validatePipeline(definition, overrides, problems);
}
