import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { keyIdOf } from '../../cache/entry-signature.js';
import { UsageError } from '../../cache/errors.js';

/**
 * `flywheel keys generate [--out dir] [--name ci]`: an Ed25519 key pair for signing cache entries.
 * `<name>.key` (private, mode 600) goes to the writer (FLYWHEEL_SIGNING_KEY); `<name>.pub` to every
 * reader (FLYWHEEL_TRUSTED_KEYS). Existing files are never overwritten.
 */
export async function keysCommand(args: { action: string | undefined; out: string | undefined; name: string | undefined; json: boolean }): Promise<number> {
  if (args.action !== 'generate')
    throw new UsageError(`unknown keys command ${JSON.stringify(args.action ?? '')}`, 'use flywheel keys generate [--out dir] [--name name]');
  const name = args.name ?? 'flywheel';
  if (!/^[\w.-]{1,100}$/.test(name) || name.startsWith('.'))
    throw new UsageError(`--name ${JSON.stringify(name)} is not a file name`, 'use letters, digits, ., _ and - (e.g. --name ci-main)');
  const dir = resolve(args.out ?? '.');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const files = { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
  await mkdir(dir, { recursive: true });
  try {
    // `wx`: an existing key is someone's identity; it is never replaced by accident.
    await writeFile(files.key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${files.key} already exists`, 'choose another --name or --out; keep the existing key for as long as readers trust it');
    throw error;
  }
  await writeFile(files.pub, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'w' });
  const id = keyIdOf(publicKey);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ id, privateKey: files.key, publicKey: files.pub }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    [
      `key ${id}`,
      `  private: ${files.key}   (the writer's: FLYWHEEL_SIGNING_KEY=${files.key}; keep it secret)`,
      `  public:  ${files.pub}   (every reader's: FLYWHEEL_TRUSTED_KEYS=${files.pub}, a comma-separated list of files or folders)`,
      '',
    ].join('\n'),
  );
  return 0;
}
