import { sign, verify } from 'node:crypto';
import type { Signer, TrustedKeys } from './entry-signature.js';

// DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse): a payload of a stated type,
// signed over its "pre-authentication encoding", so neither the type nor the bytes can be swapped. What
// in-toto attestations (provenance) travel in; any DSSE verifier checks these envelopes.

export interface DsseEnvelope {
  payloadType: string;
  /** The payload, base64. */
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as decimal. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

/** The payload in an envelope signed by `signer` (Ed25519, keyid = the signer's id). */
export function signDsse(payloadType: string, payload: Buffer, signer: Signer): DsseEnvelope {
  const sig = sign(null, preAuthEncoding(payloadType, payload), signer.privateKey).toString('base64');
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: signer.id, sig }] };
}

export type DsseCheck = { verified: true; keyid: string; payload: Buffer } | { verified: false; reason: string };

/** Whether a trusted key signed the envelope: its first signature by a trusted key that verifies, or why none does. */
export function verifyDsse(envelope: DsseEnvelope, trusted: TrustedKeys): DsseCheck {
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    typeof envelope.payload !== 'string' ||
    typeof envelope.payloadType !== 'string' ||
    !Array.isArray(envelope.signatures)
  )
    return { verified: false, reason: 'not a DSSE envelope (payloadType, payload and signatures expected)' };
  if (envelope.signatures.length === 0) return { verified: false, reason: 'the envelope is unsigned' };
  const payload = Buffer.from(envelope.payload, 'base64');
  const signed = preAuthEncoding(envelope.payloadType, payload);
  const reasons: string[] = [];
  for (const signature of envelope.signatures) {
    const { keyid, sig } = (typeof signature === 'object' && signature !== null ? signature : {}) as { keyid?: unknown; sig?: unknown };
    if (typeof keyid !== 'string' || typeof sig !== 'string') {
      reasons.push('a malformed signature');
      continue;
    }
    const key = trusted.get(keyid);
    if (key === undefined) {
      reasons.push(`signed by ${keyid}, not a trusted key`);
      continue;
    }
    let ok = false;
    try {
      ok = verify(null, signed, key, Buffer.from(sig, 'base64'));
    } catch {
      ok = false;
    }
    if (ok) return { verified: true, keyid, payload };
    reasons.push(`the signature by ${keyid} does not verify (the envelope was changed after signing)`);
  }
  return { verified: false, reason: reasons.join('; ') };
}
