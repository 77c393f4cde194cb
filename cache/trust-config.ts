import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { keyIdOf, type Signer, type TrustedKeys } from './entry-signature.js';
import { FlywheelError } from './errors.js';

/**
 * Who a run is as a writer, and whom it trusts as a reader, from the environment:
 * - `FLYWHEEL_SIGNING_KEY`: a PEM Ed25519 private key (`flywheel keys generate`); every entry the run
 *   writes is signed with it, and the run trusts that key (besides those listed below) for what it reads.
 * - `FLYWHEEL_TRUSTED_KEYS`: PEM public keys, files or folders of `*.pub`, separated by commas. When set,
 *   a stored entry is used only if one of them (or the run's own signing key) signed it; any other is a
 *   miss (`untrusted-entry`). Unset: entries are used as written, signed or not.
 *
 * A run that trusts keys but has none to sign with signs with a key its process makes for itself, so it
 * can use what it has just written (a map's assembly, the look-again after a claim); other processes do
 * not trust that key, so they compute those results again (see `ephemeralSigner`).
 */
export interface Trust {
  signer: Signer | undefined;
  trusted: TrustedKeys | undefined;
}

const NO_TRUST: Trust = { signer: undefined, trusted: undefined };

function fail(variable: string, message: string, fix: string): FlywheelError {
  return new FlywheelError('TRUST_KEY_INVALID', `${variable}: ${message}`, { fix });
}

function readKeyFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw fail(variable, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'name a readable PEM key file');
  }
}

function ed25519(variable: string, path: string, key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    throw fail(variable, `${path} is a ${key.asymmetricKeyType ?? 'symmetric'} key, not Ed25519`, 'make a key pair with `flywheel keys generate`');
  return key;
}

function signerFrom(path: string): Signer {
  const variable = 'FLYWHEEL_SIGNING_KEY';
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readKeyFile(variable, path));
  } catch (error) {
    if (error instanceof FlywheelError) throw error;
    throw fail(variable, `${path} is not a PEM private key (${(error as Error).message})`, 'name the .key file `flywheel keys generate` wrote');
  }
  ed25519(variable, path, privateKey);
  const publicKey = createPublicKey(privateKey);
  return { id: keyIdOf(publicKey), privateKey, publicKey };
}

function trustedFrom(list: string): Map<string, KeyObject> {
  const variable = 'FLYWHEEL_TRUSTED_KEYS';
  const files = list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .flatMap((path) => {
      let folder = false;
      try {
        folder = statSync(path).isDirectory();
      } catch {
        // read (and reported) as a file below
      }
      return folder
        ? readdirSync(path)
            .filter((name) => name.endsWith('.pub'))
            .sort()
            .map((name) => join(path, name))
        : [path];
    });
  if (files.length === 0) throw fail(variable, `${JSON.stringify(list)} names no public key`, 'list .pub files or folders of them, separated by commas');
  const keys = new Map<string, KeyObject>();
  for (const path of files) {
    let key: KeyObject;
    const text = readKeyFile(variable, path);
    // node derives a public key from a private one; a reader must never be handed the writer's secret.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
      throw fail(variable, `${path} is a private key`, 'list the .pub file beside it; the .key file belongs to the writer alone (FLYWHEEL_SIGNING_KEY)');
    try {
      key = createPublicKey(text);
    } catch (error) {
      if (error instanceof FlywheelError) throw error;
      throw fail(variable, `${path} is not a PEM public key (${(error as Error).message})`, 'list the .pub files `flywheel keys generate` wrote');
    }
    keys.set(keyIdOf(ed25519(variable, path, key)), key);
  }
  return keys;
}

/** The ids of the keys this trust vouches for beyond its own process (an ephemeral key is not one): what a run asks its workers to trust too. */
export function trustedKeyIds(trust: Trust): string[] {
  const ids = [...(trust.trusted?.keys() ?? [])];
  return trust.signer?.ephemeral === true ? ids.filter((id) => id !== trust.signer?.id) : ids;
}

/** A key this process makes for itself: what it writes, it alone trusts. */
function ephemeralSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { id: keyIdOf(publicKey), privateKey, publicKey, ephemeral: true };
}

const known = new Map<string, Trust>();

/** The trust a process with this environment has; read once per distinct setting. Bad keys: TRUST_KEY_INVALID, naming the file. */
export function trustFromEnv(env: NodeJS.ProcessEnv = process.env): Trust {
  const signingSetting = env.FLYWHEEL_SIGNING_KEY ?? '';
  const trustedSetting = env.FLYWHEEL_TRUSTED_KEYS ?? '';
  if (signingSetting === '' && trustedSetting === '') return NO_TRUST;
  // Every look-up asks: the settings are read once per process and working directory (relative paths name its files).
  const id = `${process.cwd()}\0${signingSetting}\0${trustedSetting}`;
  let trust = known.get(id);
  if (trust === undefined) {
    const trustedList = trustedSetting
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')
      .map((p) => resolve(p))
      .join(',');
    const signer = signingSetting === '' ? (trustedList === '' ? undefined : ephemeralSigner()) : signerFrom(resolve(signingSetting));
    // A writer always checks what it reads: it trusts its own key (and those listed). Re-signing, or
    // assembling from, entries it never checked would vouch for whatever was planted in the store.
    const trusted = trustedList === '' ? (signer === undefined ? undefined : new Map<string, KeyObject>()) : trustedFrom(trustedList);
    if (trusted !== undefined && signer !== undefined) trusted.set(signer.id, signer.publicKey);
    trust = { signer, trusted };
    known.set(id, trust);
  }
  return trust;
}
