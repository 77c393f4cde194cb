// The docker and podman launchers: a component's image run by a container engine, with its files where
// Tangle's launchers put them: input x at /tmp/inputs/<x>/data (read-only), output y written to
// /tmp/outputs/<y>/data (names made file-safe as Tangle makes them), bind-mounted from the step's scratch
// directory (where the step then finds them). The container runs as this user, so the files it writes are
// this user's; it is named, so a cancelled step removes it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveCommandAndArgs } from './command-line.js';
import { loggedCommand, runComponentProcess, type LaunchRequest } from './launcher.js';

/** Tangle's (and Kubeflow v1's) file-safe name: every run of other characters becomes `_`. */
export function fileSafeName(name: string): string {
  return name.replace(/[^-_.0-9a-zA-Z]+/g, '_');
}

/** A `--mount` value: CSV, each field quoted, so a path with a comma or a quote cannot add fields of its own. */
function mountOption(source: string, target: string, readonly: boolean): string {
  const field = (text: string): string => `"${text.replaceAll('"', '""')}"`;
  return [field('type=bind'), field(`source=${source}`), field(`target=${target}`), ...(readonly ? [field('readonly')] : [])].join(',');
}

export interface ContainerRun {
  /** The engine's arguments after its name: `run --rm … image args…`. */
  args: string[];
  /** Host folders to create before the run: one per output, mounted where the output is written. */
  outputFolders: Record<string, string>;
}

/** The `docker run` / `podman run` arguments for a request, and the folders its outputs land in. */
export function containerRunArguments(request: LaunchRequest, user: { uid: number; gid: number }): ContainerRun {
  const { spec } = request;
  if (!('container' in spec.implementation)) throw new Error('internal: a graph component reached a launcher');
  const { image, env = {} } = spec.implementation.container;
  const mounts: string[] = [];
  const inputPaths: Record<string, string> = {};
  for (const [name, hostPath] of Object.entries(request.inputFiles)) {
    inputPaths[name] = `/tmp/inputs/${fileSafeName(name)}/data`;
    mounts.push('--mount', mountOption(hostPath, inputPaths[name], true));
  }
  const outputPaths: Record<string, string> = {};
  const outputFolders: Record<string, string> = {};
  for (const [name, hostPath] of Object.entries(request.outputFiles)) {
    // The folder of the path the output must be at on this host, where the container writes `data`.
    outputPaths[name] = `/tmp/outputs/${fileSafeName(name)}/data`;
    outputFolders[name] = dirname(hostPath);
    mounts.push('--mount', mountOption(outputFolders[name], `/tmp/outputs/${fileSafeName(name)}`, false));
  }
  // `command` replaces the image's entrypoint and `args` follow it, as Tangle's docker launcher runs them.
  const { command, args } = resolveCommandAndArgs(spec, { values: request.values, inputPaths, outputPaths }, request.source);
  const [entrypoint, ...rest] = command;
  return {
    args: [
      'run',
      '--rm',
      '--user',
      `${user.uid}:${user.gid}`,
      ...mounts,
      '--name',
      request.containerName ?? 'flywheel-component',
      // A user without a passwd entry has `/` as HOME, where pip and friends cannot write.
      ...Object.entries({ HOME: '/tmp', ...env }).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
      ...(entrypoint === undefined ? [] : ['--entrypoint', entrypoint]),
      image,
      ...rest,
      ...args,
    ],
    outputFolders,
  };
}

export async function launchInContainer(engine: 'docker' | 'podman', request: LaunchRequest): Promise<void> {
  const named = { ...request, containerName: `flywheel-${randomBytes(6).toString('hex')}` };
  const { args, outputFolders } = containerRunArguments(named, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  for (const folder of Object.values(outputFolders)) await mkdir(folder, { recursive: true });
  request.log.info({ launcher: engine, command: loggedCommand([engine, ...args], request.secrets) }, `running ${request.name} with ${engine}`);
  // Killing the client leaves the container running: a cancelled step removes it.
  const remove = (): void => void execFile(engine, ['rm', '-f', named.containerName], () => undefined);
  request.signal.addEventListener('abort', remove, { once: true });
  try {
    await runComponentProcess(request, engine, args, process.env);
  } finally {
    request.signal.removeEventListener('abort', remove);
  }
}
