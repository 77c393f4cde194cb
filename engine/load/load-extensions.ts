import { existsSync } from 'node:fs';
import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';
import { FlywheelError, UsageError } from '../errors.js';
import { loadPipeline, pipelineFiles } from './load-pipeline.js';
import type { PipelineCommand, PipelineComparison } from '../define/pipeline-extensions.js';

/**
 * The pipeline's part of a comparison of two runs: the sections its definition's `extensions.compare`
 * reads from their outputs. Run B's pipeline is asked (the later run, by `flywheel compare`'s order):
 * the file the run recorded (`source`), else the pipeline of that name as `flywheel run <name>` finds
 * it. A pipeline that declares no comparison adds nothing; one whose recorded file is gone, or that
 * fails to load or to compare, adds nothing and says why in `note`.
 */
export async function pipelineComparison(store: Store, a: RunRecord, b: RunRecord, cwd = process.cwd()): Promise<PipelineComparison & { note: string | null }> {
  const none = (note: string | null): PipelineComparison & { note: string | null } => ({ sections: [], lines: [], note });
  const recorded = b.source !== undefined && existsSync(b.source) ? b.source : undefined;
  const path = recorded ?? pipelineFiles(cwd).get(b.pipeline);
  if (path === undefined)
    return none(
      b.source === undefined
        ? null
        : `pipeline ${b.pipeline} added no sections: its file ${b.source} is not on this machine, and ./pipelines has none of that name`,
    );
  try {
    const compare = (await loadPipeline(path, cwd)).definition.extensions?.compare;
    return compare === undefined ? none(null) : { ...(await compare({ store, a, b })), note: null };
  } catch (error) {
    return none(`pipeline ${b.pipeline} added no sections: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What loading one pipeline for its commands gave: its commands, or why it did not load. */
type Declared = { pipeline: string; commands: Map<string, PipelineCommand> } | { pipeline: string; error: unknown };

/** The pipelines a name reaches, in the order a command is looked for (./pipelines, then Flywheel's own), each loaded once when reached. */
async function* declaredCommands(cwd: string, only?: string): AsyncGenerator<Declared> {
  const files = pipelineFiles(cwd);
  const candidates = only === undefined ? [...files.entries()] : [[only, files.get(only) ?? only] as const];
  for (const [pipeline, path] of candidates) {
    try {
      const declared = (await loadPipeline(path, cwd)).definition.extensions?.commands ?? {};
      yield { pipeline, commands: new Map(Object.entries(declared)) };
    } catch (error) {
      yield { pipeline, error };
    }
  }
}

const whyNot = (error: unknown): string => (error instanceof FlywheelError ? error.code : error instanceof Error ? error.message : String(error));

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
  const unloadable: string[] = [];
  for await (const declared of declaredCommands(cwd, pipeline)) {
    if ('error' in declared) {
      if (pipeline !== undefined) throw declared.error;
      unloadable.push(`${declared.pipeline} (${whyNot(declared.error)})`);
      continue;
    }
    const command = declared.commands.get(name);
    if (command !== undefined) return { command, pipeline: declared.pipeline };
    if (pipeline !== undefined)
      throw new UsageError(
        `pipeline ${pipeline} declares no command ${JSON.stringify(name)}`,
        `its commands: ${[...declared.commands.keys()].join(', ') || 'none'} (see \`flywheel commands\`)`,
      );
  }
  throw new UsageError(
    `unknown command ${JSON.stringify(name)}: not a flywheel command, and no pipeline declares it`,
    `see \`flywheel --help\` and \`flywheel commands\`${unloadable.length > 0 ? `; pipelines that did not load: ${unloadable.join(', ')}` : ''}`,
  );
}

/**
 * Every command the pipelines a name reaches declare, in the order a command is looked for; `shadowedBy`
 * names what `flywheel <name>` runs instead (a pipeline found first, or `flywheel` itself for a name in
 * `reserved`, the CLI's own commands). Pipelines that did not load, with why.
 */
export async function pipelineCommands(
  reserved: ReadonlySet<string>,
  cwd = process.cwd(),
): Promise<{
  commands: Array<{ name: string; usage: string; pipeline: string; shadowedBy: string | null }>;
  unloadable: Array<{ pipeline: string; error: string }>;
}> {
  const commands: Array<{ name: string; usage: string; pipeline: string; shadowedBy: string | null }> = [];
  const unloadable: Array<{ pipeline: string; error: string }> = [];
  const first = new Map<string, string>();
  for await (const declared of declaredCommands(cwd)) {
    if ('error' in declared) {
      unloadable.push({ pipeline: declared.pipeline, error: declared.error instanceof Error ? declared.error.message : String(declared.error) });
      continue;
    }
    for (const [name, command] of declared.commands) {
      commands.push({ name, usage: command.usage, pipeline: declared.pipeline, shadowedBy: reserved.has(name) ? 'flywheel' : (first.get(name) ?? null) });
      if (!first.has(name)) first.set(name, declared.pipeline);
    }
  }
  return { commands, unloadable };
}
