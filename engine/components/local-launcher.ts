// The local launcher: a component's command run on this host, for machines without a container engine.
// It stands in for Python and shell images only (their commands are `python3 …`, `sh -c …`, which a host
// with Python has); any other image is refused, naming the container launchers it needs.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FlywheelError } from '../errors.js';
import { resolveCommandLine } from './command-line.js';
import { loggedCommand, runComponentProcess, type LaunchRequest } from './launcher.js';

/** Image names whose commands this host can run: Python and small shell images, with any registry, tag or digest. */
const HOST_RUNNABLE = /^(?:[\w.-]+(?::\d+)?\/)*(?:python|pypy|alpine|busybox|debian|ubuntu|bash)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/;

export function runsOnHost(image: string): boolean {
  return HOST_RUNNABLE.test(image);
}

/**
 * What a component sees of this host's environment: what finding programs and writing temporary files
 * need, as in a container, where it would see only its image's and its own `env`. Never this process's
 * secrets or store credentials (FLYWHEEL_SECRET_*, AWS_*): a secret reaches a component only as an argument.
 */
function hostEnvironment(): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TERM']) if (process.env[name] !== undefined) kept[name] = process.env[name];
  return kept;
}

export async function launchOnHost(request: LaunchRequest): Promise<void> {
  const { spec, name, log } = request;
  if (!('container' in spec.implementation)) throw new Error('internal: a graph component reached a launcher');
  const { image, env = {} } = spec.implementation.container;
  if (!runsOnHost(image))
    throw new FlywheelError('COMPONENT_IMAGE_UNSUPPORTED', `component ${name} runs in the image ${image}, which the local launcher cannot stand in for`, {
      fix: 'the local launcher runs the commands of Python and shell images on this host; this one needs a container engine: install docker or podman (FLYWHEEL_LAUNCHER=docker|podman)',
      retryable: false,
    });
  // As Tangle's launchers do, an output's folder exists before the program runs.
  for (const path of Object.values(request.outputFiles)) await mkdir(dirname(path), { recursive: true });
  const line = resolveCommandLine(spec, { values: request.values, inputPaths: request.inputFiles, outputPaths: request.outputFiles }, request.source);
  log.info({ image, launcher: 'local', command: loggedCommand(line, request.secrets) }, `running ${name} on this host in place of the image ${image}`);
  const [program, ...args] = line as [string, ...string[]];
  await runComponentProcess(request, program, args, { ...hostEnvironment(), ...env });
}
