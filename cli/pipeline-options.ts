import { readFile } from 'node:fs/promises';
import { overridesFromFile, parseSetArguments, deepMerge, type ConfigOverrides } from '../engine/config-overrides.js';
import { FlywheelError, type Problem } from '../engine/errors.js';
import { validatePipeline, type ResolvedPipeline } from '../engine/validate.js';
import { loadPipeline } from './load-pipeline.js';
import { UsageError } from './usage-error.js';

export interface PipelineArgs {
  pipeline: string;
  set: string[];
  config: string | undefined;
  force: string[];
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
  const pipeline = validatePipeline(definition, overrides, problems);
  for (const id of args.force) {
    if (!pipeline.byId.has(id)) throw new UsageError(`--force ${id}: no such step in pipeline ${pipeline.name}`, `use one of: ${[...pipeline.byId.keys()].join(', ')}`);
  }
  return pipeline;
}
