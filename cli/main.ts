// The entry point loads only what the command asks for: `flywheel --version` imports nothing but
// this file, and `flywheel run` of a cached pipeline never loads Temporal, the S3 SDK or esbuild.
import { parseArgs } from 'node:util';

const HELP = `flywheel — typed ML pipelines with a content-addressed cache

usage:
  flywheel init [dir]      (a new pipeline project: package.json, tsconfig.json, pipelines/hello.ts, its test)
  flywheel run <pipeline> [--profile name] [--set step.path=value]... [--config file.json] [--force <step>]... [--force-all]
                          [--concurrency N] [--json] [--log-level level] [--log-format human|json] [--engine local|temporal] [--detach]
  flywheel plan <pipeline> [--profile name] [--set ...] [--config file.json] [--force <step>] [--force-all] [--json]
  flywheel runs [--pipeline name] [--limit N] [--json] [--engine temporal]
  flywheel runs --cost [--pipeline name] [--limit N] [--since P8W] [--json]   (what the runs spent and the cache saved)
  flywheel show <runId> [--json]
  flywheel logs <runId> <step> [--follow] [--element N]   (a step's log wherever it ran; a cached step's from the run that computed it)
  flywheel compare [<runA> <runB>] [--pipeline name] [--json]   (default: the newest two successful runs)
  flywheel cancel <runId>
  flywheel worker --queue cpu|gpu-h200 [--concurrency N] [--shutdown-grace PT2M]
  flywheel schedule create <id> --pipeline <name> --cron "<expr>" [--profile name] [--set ...] [--config file.json]
                           [--overlap skip|buffer-one|buffer-all|cancel-other|terminate-other|allow-all]
                           [--catchup-window PT1H] [--note text]
  flywheel schedule list | describe <id> | pause <id> | unpause <id> | trigger <id> | delete <id>
  flywheel commands        (the commands pipelines add, e.g. the flagship's \`model\` and \`kappa\`)
  flywheel <command> [--pipeline name] [args...]   (a command a pipeline declares; --pipeline picks whose)
  flywheel output <step>.<output> [--run runId | --pipeline name] [--out path]
  flywheel pin <runId> | unpin <runId>
  flywheel cache ls [--json]
  flywheel cache verify [--fix] [--json]
  flywheel cache gc [--dry-run] [--keep N] [--grace PT1H] [--json]
  flywheel cache push <store> [--run <runId>] [--json]   (a run's results to another store, e.g. s3://bucket/prefix)
  flywheel keys generate [--out dir] [--name name]   (an Ed25519 pair: FLYWHEEL_SIGNING_KEY signs entries, FLYWHEEL_TRUSTED_KEYS trusts them)
  flywheel ui [--port N] [--host 127.0.0.1] [--token T]   (the web run view; a non-loopback host needs a token)

<pipeline> is a .ts/.js file that default-exports definePipeline(...), or a name found in ./pipelines.
The store is .flywheel/ in the working directory; FLYWHEEL_STORE=<path> (or --store) selects another.
--engine temporal (or FLYWHEEL_ENGINE=temporal) runs on Temporal workers: TEMPORAL_ADDRESS (default
127.0.0.1:7233), TEMPORAL_NAMESPACE (default default), FLYWHEEL_TASK_QUEUE_PREFIX (default none).
Exit codes: 0 success, 1 pipeline failed (or cache problems found), 2 bad usage or invalid pipeline.`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  config: { type: 'string' },
  profile: { type: 'string' },
  force: { type: 'string', multiple: true },
  'force-all': { type: 'boolean' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  store: { type: 'string' },
  run: { type: 'string' },
  out: { type: 'string' },
  pipeline: { type: 'string' },
  limit: { type: 'string' },
  cost: { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  element: { type: 'string' },
  since: { type: 'string' },
  fix: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  keep: { type: 'string' },
  grace: { type: 'string' },
  engine: { type: 'string' },
  detach: { type: 'boolean' },
  queue: { type: 'string' },
  'shutdown-grace': { type: 'string' },
  cron: { type: 'string' },
  overlap: { type: 'string' },
  'catchup-window': { type: 'string' },
  note: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  name: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** The CLI's own commands (each a case of the switch below); any other is one a pipeline declares (`extensions.commands`). */
const COMMANDS = new Set([
  'keys',
  'run',
  'plan',
  'runs',
  'cancel',
  'worker',
  'init',
  'schedule',
  'compare',
  'show',
  'logs',
  'output',
  'pin',
  'unpin',
  'ui',
  'cache',
  'commands',
  'help',
]);

async function dispatch(argv: string[]): Promise<number> {
  const loose = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  if (loose.values.version === true) {
    process.stdout.write('flywheel 0.1.0\n');
    return 0;
  }
  // Any other command is a pipeline's: it parses its own arguments (`--pipeline` says whose).
  const named = loose.tokens.find((t) => t.kind === 'positional');
  if (named !== undefined && !COMMANDS.has(named.value))
    return (await import('./commands/pipeline-command.js')).pipelineCommand(named.value, argv, loose.tokens, named.index, {
      help: loose.values.help === true,
      builtIn: COMMANDS,
    });
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const { UsageError } = await import('../cache/errors.js');
    throw new UsageError((error as Error).message, 'see `flywheel --help`');
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help || command === undefined || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined && !v.help ? 2 : 0;
  }
  const [{ UsageError }, { positiveInt, durationFlag, logFormatFlag }, { openRunStore }] = await Promise.all([
    import('../cache/errors.js'),
    import('./options/flags.js'),
    import('../cache/open-store.js'),
  ]);
  const store = openRunStore(v.store);
  const json = v.json ?? false;
  const needOne = (what: string): string => {
    if (rest.length !== 1) throw new UsageError(`flywheel ${command} takes exactly one ${what}`, `write flywheel ${command} <${what}>`);
    return rest[0] as string;
  };
  const engine = v.engine ?? (process.env.FLYWHEEL_ENGINE || 'local');
  if (engine !== 'local' && engine !== 'temporal')
    throw new UsageError(`--engine ${engine} is not an engine`, 'use --engine local or --engine temporal (or FLYWHEEL_ENGINE)');
  const pipelineArgs = () => ({
    pipeline: needOne('pipeline'),
    set: v.set ?? [],
    config: v.config,
    profile: v.profile,
    force: v.force ?? [],
    forceAll: v['force-all'] ?? false,
    json,
  });
  switch (command) {
    case 'run':
      return (await import('./commands/run.js')).runCommand(
        {
          ...pipelineArgs(),
          concurrency: v.concurrency === undefined ? undefined : positiveInt(v.concurrency, '--concurrency', 4),
          logLevel: v['log-level'],
          logFormat: logFormatFlag(v['log-format']),
          engine,
          detach: v.detach ?? false,
          store: v.store,
        },
        store,
      );
    case 'plan':
      return (await import('./commands/plan.js')).planCommand(pipelineArgs(), store);
    case 'runs':
      // Cost is read from the run records, wherever the runs executed.
      if (v.cost === true || v.since !== undefined)
        return (await import('./commands/runs-cost.js')).runsCostCommand(
          {
            pipeline: v.pipeline,
            limit: positiveInt(v.limit, '--limit', v.since === undefined ? 8 : Number.MAX_SAFE_INTEGER),
            sinceMs: v.since === undefined ? undefined : durationFlag(v.since, '--since'),
            json,
          },
          store,
        );
      if (engine === 'temporal')
        return (await import('./commands/temporal-runs.js')).temporalRunsCommand(
          { pipeline: v.pipeline, limit: positiveInt(v.limit, '--limit', 20), json },
          store,
        );
      return (await import('./commands/runs.js')).runsCommand({ pipeline: v.pipeline, limit: positiveInt(v.limit, '--limit', 20), json }, store);
    case 'cancel':
      return (await import('./commands/temporal-runs.js')).cancelCommand({ runId: needOne('runId') });
    case 'worker':
      return (await import('./commands/worker.js')).workerCommand({
        queue: v.queue,
        concurrency: v.concurrency === undefined ? undefined : positiveInt(v.concurrency, '--concurrency', 1),
        shutdownGraceMs: v['shutdown-grace'] === undefined ? undefined : durationFlag(v['shutdown-grace'], '--shutdown-grace'),
        logLevel: v['log-level'],
      });
    case 'init':
      if (rest.length > 1) throw new UsageError('flywheel init takes at most one folder', 'write flywheel init [dir]');
      return (await import('./commands/init.js')).initCommand({ dir: rest[0] ?? '.' });
    case 'keys':
      return (await import('./commands/keys.js')).keysCommand({ action: rest[0], out: v.out, name: v.name, json });
    case 'commands':
      if (rest.length > 0) throw new UsageError('flywheel commands takes no arguments', 'write flywheel commands');
      return (await import('./commands/pipeline-command.js')).listCommands({ json, builtIn: COMMANDS });
    case 'schedule':
      return (await import('./commands/schedule.js')).scheduleCommand({
        action: rest[0],
        id: rest[1],
        pipeline: v.pipeline,
        cron: v.cron,
        set: v.set ?? [],
        config: v.config,
        profile: v.profile,
        store: v.store,
        overlap: v.overlap,
        catchupWindow: v['catchup-window'],
        note: v.note,
        json,
      });
    case 'compare':
      return (await import('./commands/compare.js')).compareCommand({ runIds: rest, pipeline: v.pipeline, json }, store);
    case 'show':
      return (await import('./commands/runs.js')).showCommand({ runId: needOne('runId'), json }, store);
    case 'logs': {
      if (rest.length !== 2)
        throw new UsageError('flywheel logs takes a run id and a step', 'write flywheel logs <runId> <step> (see flywheel runs, flywheel show <runId>)');
      const element = v.element === undefined ? undefined : Number(v.element);
      if (element !== undefined && !(Number.isInteger(element) && element >= 0))
        throw new UsageError(
          `--element ${String(v.element)} is not an element's index (0, 1, …)`,
          "write e.g. --element 3 (flywheel show <runId> lists a map's failed elements)",
        );
      return (await import('./commands/logs.js')).logsCommand(
        { runId: rest[0] as string, stepId: rest[1] as string, follow: v.follow ?? false, element },
        store,
      );
    }
    case 'output':
      return (await import('./commands/output.js')).outputCommand({ ref: needOne('step.output'), runId: v.run, pipeline: v.pipeline, out: v.out }, store);
    case 'pin':
    case 'unpin':
      return (await import('./commands/runs.js')).pinCommand({ runId: needOne('runId'), pinned: command === 'pin' }, store);
    case 'ui':
      if (rest.length > 0) throw new UsageError('flywheel ui takes no arguments', 'write flywheel ui [--port N] [--host 127.0.0.1] [--token T]');
      return (await import('./commands/ui.js')).uiCommand({ port: v.port, host: v.host, token: v.token }, store);
    case 'cache': {
      const [sub] = rest;
      const cache = await import('./commands/cache.js');
      if (sub === 'ls') return cache.cacheLsCommand({ json }, store);
      if (sub === 'verify') return cache.cacheVerifyCommand({ fix: v.fix ?? false, json }, store);
      if (sub === 'gc')
        return cache.cacheGcCommand({ dryRun: v['dry-run'] ?? false, keep: positiveInt(v.keep, '--keep', 5), grace: v.grace ?? 'PT1H', json }, store);
      if (sub === 'push') return cache.cachePushCommand({ to: rest[1], run: v.run, json }, store);
      throw new UsageError(`unknown cache command ${JSON.stringify(sub ?? '')}`, 'use flywheel cache ls | verify | gc | push');
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`, 'see `flywheel --help`');
  }
}

/** Runs the CLI and returns its exit code: 0 success, 1 pipeline failed, 2 bad usage or invalid pipeline. */
export async function main(argv: string[]): Promise<number> {
  // `flywheel output x | head`: a reader that stops early is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  try {
    return await dispatch(argv);
  } catch (error) {
    return (await import('./terminal/report-error.js')).reportError(error, { json: argv.includes('--json') });
  }
}
