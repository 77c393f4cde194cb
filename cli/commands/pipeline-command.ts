import { UsageError } from '../../cache/errors.js';
import { findPipelineCommand, pipelineCommands } from '../../engine/load/load-extensions.js';

/** `argv` without the command's name and without `--pipeline <name>`, which says whose command it is. */
function commandArgs(name: string, argv: readonly string[]): { pipeline: string | undefined; args: string[] } {
  const args = [...argv];
  args.splice(args.indexOf(name), 1);
  let pipeline: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') break;
    if (arg === '--pipeline' || arg.startsWith('--pipeline=')) {
      const value = arg === '--pipeline' ? args[i + 1] : arg.slice('--pipeline='.length);
      if (value === undefined || value === '') throw new UsageError('--pipeline needs a name', `write flywheel ${name} --pipeline <name> ...`);
      pipeline = value;
      args.splice(i, arg === '--pipeline' ? 2 : 1);
      i--;
    }
  }
  return { pipeline, args };
}

/** `flywheel <name> [--pipeline p] ...`: a command a pipeline declares in its definition (`extensions.commands`). */
export async function pipelineCommand(name: string, argv: readonly string[]): Promise<number> {
  const { pipeline, args } = commandArgs(name, argv);
  const found = await findPipelineCommand(name, pipeline);
  return found.command.run(args);
}

/** `flywheel commands [--json]`: every command the pipelines here (and Flywheel's own) declare. */
export async function listCommands(args: { json: boolean }): Promise<number> {
  const { commands, unloadable } = await pipelineCommands();
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ commands, unloadable }, null, 2)}\n`);
    return 0;
  }
  for (const u of unloadable) process.stderr.write(`warning: pipeline ${u.pipeline} did not load, so its commands are not listed: ${u.error}\n`);
  const lines = commands.map(
    (c) =>
      `  flywheel ${c.name} ${c.usage}   (pipeline ${c.pipeline}${c.shadowedBy === null ? '' : `; \`flywheel ${c.name}\` runs ${c.shadowedBy}'s, --pipeline ${c.pipeline} this one`})`,
  );
  process.stdout.write(lines.length === 0 ? 'no pipeline here declares a command\n' : `commands pipelines add:\n${lines.join('\n')}\n`);
  return 0;
}
