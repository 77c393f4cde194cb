import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { UsageError, type FlywheelError } from '../errors.js';
import { loadPipeline, pipelineFiles } from './load-pipeline.js';
import type { PipelineCommand, PipelineComparison } from '../define/pipeline-extensions.js';

/**
 * The pipeline's part of a comparison of two runs: the sections its definition's `extensions.compare`
 * reads from their outputs. Run B's pipeline is asked (the later run, by `flywheel compare`'s order),
 * found by name as `flywheel run <name>` finds it. A pipeline that is not here, or declares no
 * comparison, adds nothing; one that fails to load or compare says why in `note`.
 */
export async function pipelineComparison(store: Store, a: RunRecord, b: RunRecord, cwd = process.cwd()): Promise<PipelineComparison & { note: string | null }> {
  const none = (note: string | null): PipelineComparison & { note: string | null } => ({ sections: [], lines: [], note });
  const path = pipelineFiles(cwd).get(b.pipeline);
  if (path === undefined) return none(null);
  try {
    const compare = (await loadPipeline(path, cwd)).definition.extensions?.compare;
    return compare === undefined ? none(null) : { ...(await compare({ store, a, b })), note: null };
  } catch (error) {
    return none(`pipeline ${b.pipeline} added no sections: ${(error as Error).message}`);
  }
}

/**
 * The command `name` a pipeline declares in `extensions.commands`: in the pipeline named (`--pipeline`),
 * else in the first pipeline (./pipelines, then Flywheel's own) that declares it. Pipelines that fail to
 * load are passed over, and named when no other declares the command.
 */
export async function findPipelineCommand(
  name: string,
  pipeline: string | undefined,
  cwd = process.cwd(),
): Promise<{ command: PipelineCommand; pipeline: string }> {
  const files = pipelineFiles(cwd);
  const candidates = pipeline === undefined ? [...files.entries()] : [[pipeline, files.get(pipeline) ?? pipeline] as const];
  const unloadable: string[] = [];
  for (const [pipelineName, path] of candidates) {
    const commands = await commandsOf(path, cwd).catch((error: unknown) => {
      if (pipeline !== undefined) throw error;
      unloadable.push(`${pipelineName} (${(error as FlywheelError).code ?? 'load failed'})`);
      return undefined;
    });
    const command = commands?.get(name);
    if (command !== undefined) return { command, pipeline: pipelineName };
    if (pipeline !== undefined)
      throw new UsageError(
        `pipeline ${pipeline} declares no command ${JSON.stringify(name)}`,
        `its commands: ${[...(commands?.keys() ?? [])].join(', ') || 'none'} (see \`flywheel commands\`)`,
      );
  }
  throw new UsageError(
    `unknown command ${JSON.stringify(name)}: not a flywheel command, and no pipeline declares it`,
    `see \`flywheel --help\` and \`flywheel commands\`${unloadable.length > 0 ? `; pipelines that did not load: ${unloadable.join(', ')}` : ''}`,
  );
}

async function commandsOf(path: string, cwd: string): Promise<Map<string, PipelineCommand>> {
  const declared = (await loadPipeline(path, cwd)).definition.extensions?.commands ?? {};
  return new Map(Object.entries(declared));
}

/** Every command the pipelines a name reaches declare, in the order a command is looked for; pipelines that did not load, with why. */
export async function pipelineCommands(cwd = process.cwd()): Promise<{
  commands: Array<{ name: string; usage: string; pipeline: string; shadowedBy: string | null }>;
  unloadable: Array<{ pipeline: string; error: string }>;
}> {
  const commands: Array<{ name: string; usage: string; pipeline: string; shadowedBy: string | null }> = [];
  const unloadable: Array<{ pipeline: string; error: string }> = [];
  const first = new Map<string, string>();
  for (const [pipeline, path] of pipelineFiles(cwd)) {
    let declared: Map<string, PipelineCommand>;
    try {
      declared = await commandsOf(path, cwd);
    } catch (error) {
      unloadable.push({ pipeline, error: (error as Error).message });
      continue;
    }
    for (const [name, command] of declared) {
      commands.push({ name, usage: command.usage, pipeline, shadowedBy: first.get(name) ?? null });
      if (!first.has(name)) first.set(name, pipeline);
    }
  }
  return { commands, unloadable };
}
