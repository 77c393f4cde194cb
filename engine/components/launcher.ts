// How a component's container runs: the launcher. `local` runs its command on this host (Python and shell
// images only); `docker` and `podman` run its image with its files bind-mounted. FLYWHEEL_LAUNCHER picks
// one; by default a container engine whose daemon answers is used, else `local`. The launcher is not part of the
// cache key: the image and the command line are the component's, whoever runs them.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import { FlywheelError } from '../errors.js';
import { ProcessFailedError, runProcess } from '../helpers/run-process.js';
import type { ComponentSpec } from './component-spec.js';
import { maskSecrets } from './component-secrets.js';

export type LauncherName = 'local' | 'docker' | 'podman';
const LAUNCHERS: readonly LauncherName[] = ['local', 'docker', 'podman'];

/** One execution of a component: its values and files on this host, and where its outputs must end up. */
export interface LaunchRequest {
  spec: ComponentSpec;
  /** Where the component was read from, for messages. */
  source: string;
  /** The name it is known by in messages. */
  name: string;
  /** Inputs given as values, as text. */
  values: Readonly<Record<string, string>>;
  /** Inputs given as files (or directories): their paths on this host. */
  inputFiles: Readonly<Record<string, string>>;
  /** Where each output must be on this host when the launch returns. */
  outputFiles: Readonly<Record<string, string>>;
  /** Secret values, kept out of what is logged. */
  secrets: readonly string[];
  /** The container's name, for the container launchers to remove it when the step is cancelled. */
  containerName?: string;
  workDir: string;
  log: Logger;
  signal: AbortSignal;
}

/** Lines of the program's output kept for a failure's message. */
const TAIL_LINES = 20;

/** `program` on the PATH, if it is there. */
export function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether `engine` (docker, podman) is on the PATH and its daemon answers: a client alone runs nothing. Asked once per process. */
const answering = new Map<string, Promise<boolean>>();
function engineAnswers(engine: 'docker' | 'podman'): Promise<boolean> {
  let found = answering.get(engine);
  if (found === undefined) {
    found = onPath(engine)
      ? new Promise<boolean>((resolve) => {
          execFile(engine, ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 }, (error) => resolve(error === null));
        })
      : Promise.resolve(false);
    answering.set(engine, found);
  }
  return found;
}

/** FLYWHEEL_LAUNCHER, else a container engine that answers (docker, then podman), else `local`. */
export async function chosenLauncher(): Promise<LauncherName> {
  const named = process.env.FLYWHEEL_LAUNCHER;
  if (named !== undefined && named !== '') {
    if (!(LAUNCHERS as readonly string[]).includes(named))
      throw new FlywheelError('COMPONENT_LAUNCHER_UNKNOWN', `FLYWHEEL_LAUNCHER=${named} is not a launcher`, {
        fix: `set it to one of ${LAUNCHERS.join(', ')}, or unset it to use a container engine when one is on the PATH`,
        retryable: false,
      });
    return named as LauncherName;
  }
  return (await engineAnswers('docker')) ? 'docker' : (await engineAnswers('podman')) ? 'podman' : 'local';
}

/** Longest command-line part logged whole; a longer one (an inline program) is logged by its start and length. */
const LOGGED_PART = 160;

/** A command line as the log shows it: secrets masked, inline programs abbreviated (the component's text has them whole). */
export function loggedCommand(line: readonly string[], secrets: readonly string[]): string[] {
  return line.map((part) => {
    const masked = maskSecrets(part, secrets);
    return masked.length <= LOGGED_PART ? masked : `${masked.slice(0, LOGGED_PART / 2).trimEnd()}… (${masked.length} characters)`;
  });
}

/**
 * Runs a component's process: its lines become the step's log (secrets masked), and a non-zero exit is
 * COMPONENT_FAILED (retryable) with its last lines.
 */
export async function runComponentProcess(request: LaunchRequest, program: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const tail: string[] = [];
  try {
    await runProcess(program, [...args], {
      signal: request.signal,
      cwd: request.workDir,
      env,
      onLine: (text, stream) => {
        const line = maskSecrets(text, request.secrets);
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        // Programs write progress and traces (`sh -x`) to stderr: a line there is no warning.
        request.log.info({ stream }, line);
      },
    });
  } catch (error) {
    if (!(error instanceof ProcessFailedError)) throw error;
    const exit = maskSecrets(error.message.slice(error.message.lastIndexOf(' exited') + 1), request.secrets);
    throw new FlywheelError('COMPONENT_FAILED', `component ${request.name} ${exit}; its last lines:\n${tail.join('\n')}`, {
      fix: `read its whole log with flywheel logs <runId> <step>`,
      retryable: true,
    });
  }
}
