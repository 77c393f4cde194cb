import { signDsse, verifyDsse, type DsseCheck, type DsseEnvelope } from '../../cache/dsse.js';
import { trustFromEnv } from '../../cache/trust-config.js';
import { UsageError } from '../errors.js';

/**
 * Signs a payload (an in-toto Statement, say) as a DSSE envelope with this process's writer key
 * (FLYWHEEL_SIGNING_KEY, the key that signs its cache entries). Without one, the envelope is unsigned
 * and verifying it says so.
 *
 * @example
 * const envelope = signEnvelope('application/vnd.in-toto+json', Buffer.from(JSON.stringify(statement)));
 */
export function signEnvelope(payloadType: string, payload: Buffer, env: NodeJS.ProcessEnv = process.env): DsseEnvelope {
  const signer = trustFromEnv(env).signer;
  if (signer === undefined || signer.ephemeral === true) return { payloadType, payload: payload.toString('base64'), signatures: [] };
  return signDsse(payloadType, payload, signer);
}

/** Checks a DSSE envelope against this process's trusted keys (FLYWHEEL_TRUSTED_KEYS); without any, a usage error. */
export function verifyEnvelope(envelope: DsseEnvelope, env: NodeJS.ProcessEnv = process.env): DsseCheck {
  const { trusted, signer } = trustFromEnv(env);
  if (trusted === undefined)
    throw new UsageError('no trusted keys to verify against', 'set FLYWHEEL_TRUSTED_KEYS to the public keys of the writers you trust (flywheel keys generate)');
  // A key this process made for itself vouches for nothing outside it.
  const keys = new Map(trusted);
  if (signer?.ephemeral === true) keys.delete(signer.id);
  return verifyDsse(envelope, keys);
}
