// The local launcher: a component's command run on this host, for machines without a container engine.
// It stands in for Python and shell images only (their commands are `python3 …`, `sh -c …`, which a host
// with Python has); any other image is refused, naming the container launchers it needs.
import type { Logger } from 'pino';
import { FlywheelError } from '../errors.js';
import { ProcessFailedError, runProcess } from '../helpers/run-process.js';

/** Image names whose commands this host can run: Python and small shell images, with any registry, tag or digest. */
const HOST_RUNNABLE = /^(?:[\w.-]+(?::\d+)?\/)*(?:python|pypy|alpine|busybox|debian|ubuntu|bash)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/;

/** Lines of the program's output kept for a failure's message. */
const TAIL_LINES = 20;

export function runsOnHost(image: string): boolean {
  return HOST_RUNNABLE.test(image);
}

export async function runOnHost(request: {
  name: string;
  image: string;
  line: readonly string[];
  env: Readonly<Record<string, string>>;
  workDir: string;
  log: Logger;
  signal: AbortSignal;
}): Promise<void> {
  const { name, image, line, log } = request;
  if (!runsOnHost(image))
    throw new FlywheelError('COMPONENT_IMAGE_UNSUPPORTED', `component ${name} runs in the image ${image}, which the local launcher cannot stand in for`, {
      fix: 'the local launcher runs the commands of Python and shell images on this host; this one needs a container engine (the docker and podman launchers)',
      retryable: false,
    });
  const [program, ...args] = line as [string, ...string[]];
  log.info({ image, launcher: 'local', command: line }, `running ${name} on this host in place of the image ${image}`);
  const tail: string[] = [];
  try {
    await runProcess(program, args, {
      signal: request.signal,
      cwd: request.workDir,
      env: { ...process.env, ...request.env },
      onLine: (text, stream) => {
        tail.push(text);
        if (tail.length > TAIL_LINES) tail.shift();
        log[stream === 'stderr' ? 'warn' : 'info']({ stream }, text);
      },
    });
  } catch (error) {
    if (!(error instanceof ProcessFailedError)) throw error;
    throw new FlywheelError(
      'COMPONENT_FAILED',
      `component ${name} ${error.message.slice(error.message.indexOf(' exited') + 1)}; its last lines:\n${tail.join('\n')}`,
      {
        fix: `read its whole log with flywheel logs <runId> <step>`,
        retryable: true,
      },
    );
  }
}
