import type { Store } from '../../cache/store.js';
import { resolveToken, startUiServer } from '../../ui/server/index.js';
import { UsageError } from '../../cache/errors.js';

export interface UiArgs {
  port: string | undefined;
  host: string | undefined;
  token: string | undefined;
}

function portFlag(raw: string | undefined): number {
  if (raw === undefined) return 4310;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new UsageError(`--port ${raw} is not a port`, 'use --port 0 (any free port) to 65535');
  return Number(raw);
}

/**
 * `flywheel ui [--port N] [--host 127.0.0.1] [--token T]`: the web run view over the store, read-only,
 * until interrupted. Loopback by default; another host needs a token (given, FLYWHEEL_UI_TOKEN, or
 * generated and printed once in the URL).
 */
export async function uiCommand(args: UiArgs, store: Store): Promise<number> {
  const host = args.host ?? '127.0.0.1';
  const port = portFlag(args.port);
  const { token, generated } = resolveToken(host, args.token);
  let server;
  try {
    server = await startUiServer({ store, host, port, token });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${host} is in use`, 'pick another with --port N (--port 0: any free port)');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new UsageError(`cannot listen on ${host}`, 'use an address of this machine, e.g. --host 127.0.0.1');
    throw error;
  }
  process.stdout.write(`flywheel ui: ${store.description}\n`);
  if (generated)
    process.stdout.write(
      `  ${server.url}?token=${encodeURIComponent(token ?? '')}\n  (a generated token: anyone with this URL can read the runs; it is not shown again)\n`,
    );
  else process.stdout.write(`  ${server.url}${token === undefined ? '' : '   (token required: add ?token=<your token>)'}\n`);
  process.stdout.write('  Ctrl-C to stop\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
