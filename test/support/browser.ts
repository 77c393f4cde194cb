// The web run view in a real browser: `flywheel ui` over a store, and Debian's Chromium driven by
// playwright-core (scripts/install-chromium.sh puts it at /usr/bin/chromium in CI; FLYWHEEL_CHROMIUM names another).
import { spawn, type ChildProcess } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';
import { BIN, waitFor } from './cli.js';
import { freePort } from './minio.js';

export const CHROMIUM = process.env.FLYWHEEL_CHROMIUM ?? '/usr/bin/chromium';

/** `flywheel ui` over the store `cwd` (and `env`) name, on a free port; resolves once it listens, with its address. */
export async function startUi(cwd: string, env: Record<string, string> = {}): Promise<{ server: ChildProcess; base: string }> {
  const port = await freePort();
  const server = spawn(process.execPath, [BIN, 'ui', '--port', String(port)], {
    cwd,
    env: { ...process.env, FLYWHEEL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => output.includes(`${base}/`), `flywheel ui to listen on ${base} (it printed: ${output})`);
  return { server, base };
}

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
