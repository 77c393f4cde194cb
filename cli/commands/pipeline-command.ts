import type { parseArgs } from 'node:util';
import { UsageError } from '../../cache/errors.js';
import { findPipelineCommand, pipelineCommands } from '../../engine/load/load-extensions.js';

type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/** The CLI's own options that mean nothing to a pipeline's command: given before its name, they are left out. */
const CLI_OPTIONS = new Set(['store', 'log-level', 'log-format']);

/** Optimal string alignment distance (a swap of neighbours counts one): how far a typo is from a command. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * The arguments a pipeline's command receives, and whose command it is: what follows its name, with
 * `--pipeline <name>` taken out, after the options given before its name (the CLI's own left out).
 */
function commandArgs(argv: readonly string[], tokens: readonly Token[], at: number): { pipeline: string | undefined; args: string[] } {
  let pipeline: string | undefined;
  const before: string[] = [];
  for (const token of tokens) {
    if (token.index >= at || token.kind !== 'option') continue;
    const written = argv.slice(token.index, token.index + (token.value !== undefined && token.inlineValue === false ? 2 : 1));
    if (token.name === 'pipeline') pipeline = token.value;
    else if (!CLI_OPTIONS.has(token.name)) before.push(...written);
  }
  const after = argv.slice(at + 1);
  const args: string[] = [];
  for (let i = 0; i < after.length; i++) {
    const arg = after[i] as string;
    if (arg === '--') {
      args.push(...after.slice(i));
      break;
    }
    if (arg === '--pipeline' || arg.startsWith('--pipeline=')) {
      pipeline = arg === '--pipeline' ? after[++i] : arg.slice('--pipeline='.length);
      if (pipeline === undefined || pipeline === '') throw new UsageError('--pipeline needs a name', 'write --pipeline <name> (see flywheel commands)');
    } else args.push(arg);
  }
  return { pipeline, args: [...before, ...args] };
}

/**
 * `flywheel <name> [--pipeline p] ...`: a command a pipeline declares in its definition
 * (`extensions.commands`). A name one typo away from one of the CLI's own commands is refused at once
 * (nothing is loaded); `--help` prints the command's usage.
 */
export async function pipelineCommand(
  name: string,
  argv: readonly string[],
  tokens: readonly Token[],
  at: number,
  options: { help: boolean; builtIn: ReadonlySet<string> },
): Promise<number> {
  const { pipeline, args } = commandArgs(argv, tokens, at);
  const near = [...options.builtIn].find((command) => distance(name, command) <= 1);
  if (near !== undefined && pipeline === undefined)
    throw new UsageError(`unknown command ${JSON.stringify(name)}`, `did you mean flywheel ${near}? (see flywheel --help and flywheel commands)`);
  const found = await findPipelineCommand(name, pipeline);
  if (options.help) {
    process.stdout.write(`usage: flywheel ${name} ${found.command.usage}\n  (a command of pipeline ${found.pipeline}; --pipeline <name> picks another's)\n`);
    return 0;
  }
  return found.command.run(args);
}

/** `flywheel commands [--json]`: every command the pipelines here (and Flywheel's own) declare. */
export async function listCommands(args: { json: boolean; builtIn: ReadonlySet<string> }): Promise<number> {
  const { commands, unloadable } = await pipelineCommands(args.builtIn);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ commands, unloadable }, null, 2)}\n`);
    return 0;
  }
  for (const u of unloadable) process.stderr.write(`warning: pipeline ${u.pipeline} did not load, so its commands are not listed: ${u.error}\n`);
  const shadow = (c: (typeof commands)[number]): string =>
    c.shadowedBy === null
      ? ''
      : c.shadowedBy === 'flywheel'
        ? `; unreachable: flywheel ${c.name} is the CLI's own command`
        : `; flywheel ${c.name} runs ${c.shadowedBy}'s, --pipeline ${c.pipeline} this one`;
  const lines = commands.map((c) => `  flywheel ${c.name} ${c.usage}   (pipeline ${c.pipeline}${shadow(c)})`);
  process.stdout.write(lines.length === 0 ? 'no pipeline here declares a command\n' : `commands pipelines add:\n${lines.join('\n')}\n`);
  return 0;
}
