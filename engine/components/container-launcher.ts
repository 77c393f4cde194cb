// The docker and podman launchers: a component's image run by a container engine, with its files where
// Tangle's launchers put them: input x at /tmp/inputs/<x>/data (read-only), output y written to
// /tmp/outputs/<y>/data (names made file-safe as Tangle makes them), bind-mounted from the step's scratch
// directory and moved to the step's outputs after a clean exit. The container runs as this user, so the
// files it writes are this user's.
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveCommandAndArgs } from './command-line.js';
import { loggedCommand, runComponentProcess, type LaunchRequest } from './launcher.js';
import { FlywheelError } from '../errors.js';

/** Tangle's (and Kubeflow v1's) file-safe name: every run of other characters becomes `_`. */
export function fileSafeName(name: string): string {
  return name.replace(/[^-_.0-9a-zA-Z]+/g, '_');
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
    mounts.push('--mount', `type=bind,source=${hostPath},target=${inputPaths[name]},readonly`);
  }
  const outputPaths: Record<string, string> = {};
  const outputFolders: Record<string, string> = {};
  for (const name of Object.keys(request.outputFiles)) {
    outputPaths[name] = `/tmp/outputs/${fileSafeName(name)}/data`;
    outputFolders[name] = join(request.workDir, 'container-outputs', fileSafeName(name));
    mounts.push('--mount', `type=bind,source=${outputFolders[name]},target=/tmp/outputs/${fileSafeName(name)}`);
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
      ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
      ...(entrypoint === undefined ? [] : ['--entrypoint', entrypoint]),
      image,
      ...rest,
      ...args,
    ],
    outputFolders,
  };
}

export async function launchInContainer(engine: 'docker' | 'podman', request: LaunchRequest): Promise<void> {
  const { args, outputFolders } = containerRunArguments(request, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  for (const folder of Object.values(outputFolders)) await mkdir(folder, { recursive: true });
  request.log.info({ launcher: engine, command: loggedCommand([engine, ...args], request.secrets) }, `running ${request.name} with ${engine}`);
  await runComponentProcess(request, engine, args, process.env);
  for (const [name, folder] of Object.entries(outputFolders)) {
    const written = join(folder, 'data');
    const found = await stat(written).catch(() => undefined);
    if (found === undefined) continue; // reported as a missing output by the step
    const target = request.outputFiles[name] as string;
    await mkdir(join(target, '..'), { recursive: true });
    await rename(written, target).catch((error: unknown) => {
      throw new FlywheelError(
        'COMPONENT_OUTPUT_UNREADABLE',
        `could not take output ${JSON.stringify(name)} of ${request.name} from ${written}: ${(error as Error).message}`,
        {
          fix: 'check the scratch directory is writable and on the same file system as the store',
        },
      );
    });
  }
}
