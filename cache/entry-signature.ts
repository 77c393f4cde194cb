import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { VerifiedSignatures } from './verified-signatures.js';
import type { ActionEntry } from './records.js';

// Signed action entries: a writer with a signing key signs every entry it writes, and a reader that
// trusts a set of public keys uses only entries one of them signed. The signature covers the whole
// canonical entry (key, outputs and their digests, code fingerprint, run id) and the signer's id, so an
// entry cannot be moved to another key or altered without breaking it. Ed25519, through node:crypto.

/** A key that signs entries: its id (what readers trust) and its private half. */
export interface Signer {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Made by this process for itself (trusted keys without a signing key): only this process trusts it. */
  ephemeral?: boolean;
}

/** The public keys a reader trusts, by id: several, so a key can be rotated without a gap. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/** `ed25519:` and the first 16 hex digits of the SHA-256 of the public key (SPKI, DER): short, stable, and shown in reasons. */
export function keyIdOf(publicKey: KeyObject): string {
  return `ed25519:${createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16)}`;
}

function unsigned(entry: ActionEntry): Omit<ActionEntry, 'signature'> {
  const { signature: _signature, ...rest } = entry;
  return rest;
}

/** What is signed: the entry without its signature, with the signer's id. */
const signedBytes = (entry: ActionEntry, signer: string): Buffer => Buffer.from(canonicalJson({ entry: unsigned(entry), signer }));

/** The entry with its signature by `signer` (any signature it had is replaced). */
export function signEntry(entry: ActionEntry, signer: Signer): ActionEntry {
  return { ...unsigned(entry), signature: { signer: signer.id, value: sign(null, signedBytes(entry, signer.id), signer.privateKey).toString('base64') } };
}

/** Remembers a signature this process just made, so the runs after it on this machine need not verify it. */
export function rememberSignature(entry: ActionEntry, memo: VerifiedSignatures): void {
  if (entry.signature !== undefined) memo.add(verificationId(signedBytes(entry, entry.signature.signer), entry.signature));
}

/** Whether a reader that trusts `trusted` may use the entry; when not, why, in words a reason can carry. */
export type EntryTrust = { trusted: true; signer: string } | { trusted: false; signer: string | undefined; reason: string };

/** What a memo of verified signatures remembers: exactly the bytes, the signature and the signer. */
function verificationId(bytes: Buffer, signature: { signer: string; value: string }): string {
  return createHash('sha256').update(bytes).update('\0').update(signature.value).update('\0').update(signature.signer).digest('hex');
}

/**
 * Verifies off the main thread (node's crypto in the libuv pool), so a run's look-ups go on meanwhile;
 * with `memo`, a signature this machine verified before is not verified again.
 */
export async function checkEntry(entry: ActionEntry, trusted: TrustedKeys, memo?: VerifiedSignatures): Promise<EntryTrust> {
  try {
    return await checkSignature(entry, trusted, memo);
  } catch (error) {
    // A signature or entry that cannot even be checked (a key canonical JSON refuses, a malformed value) is not trusted.
    return { trusted: false, signer: undefined, reason: `the stored entry cannot be checked (${(error as Error).message})` };
  }
}

async function checkSignature(entry: ActionEntry, trusted: TrustedKeys, memo?: VerifiedSignatures): Promise<EntryTrust> {
  const signature = entry.signature;
  if (signature === undefined) return { trusted: false, signer: undefined, reason: 'the stored entry is unsigned' };
  const key = trusted.get(signature.signer);
  if (key === undefined) return { trusted: false, signer: signature.signer, reason: `the stored entry is signed by ${signature.signer}, not a trusted key` };
  const bytes = signedBytes(entry, signature.signer);
  const id = memo === undefined ? undefined : verificationId(bytes, signature);
  if (id !== undefined && memo?.has(id) === true) return { trusted: true, signer: signature.signer };
  const ok = await new Promise<boolean>((resolve) => {
    try {
      verify(null, bytes, key, Buffer.from(signature.value, 'base64'), (error, valid) => resolve(error === null && valid));
    } catch {
      resolve(false);
    }
  });
  if (ok && id !== undefined) memo?.add(id);
  return ok
    ? { trusted: true, signer: signature.signer }
    : { trusted: false, signer: signature.signer, reason: `the stored entry's signature by ${signature.signer} does not verify (changed after signing)` };
}
