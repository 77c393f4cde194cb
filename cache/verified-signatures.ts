import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Lines kept when the file is compacted: far more entries than a cache holds at once. */
const KEEP = 500_000;
/** Compacted above this size (a line is 65 bytes). */
const MAX_BYTES = 2 * KEEP * 65;

/**
 * Signatures this machine has verified, so a cached run does not pay an Ed25519 verification per
 * entry every time (≈ 80 µs each on a small machine, a quarter of a 1,000-step cached run). A line is
 * the SHA-256 of exactly what was verified: the signed bytes, the signature and the signer's id, so an
 * entry changed in any way is verified afresh, and a signer no longer trusted is refused before this
 * is asked. It lives in the user's cache directory (`FLYWHEEL_VERIFIED_SIGNATURES` overrides), never in
 * a shared store: whoever can write it can already change what runs on this machine.
 */
export class VerifiedSignatures {
  private known: Set<string> | undefined;

  constructor(readonly path: string) {}

  private load(): Set<string> {
    if (this.known !== undefined) return this.known;
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      // none yet
    }
    const lines = text.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l));
    this.known = new Set(lines);
    try {
      if (statSync(this.path).size > MAX_BYTES) {
        const kept = lines.slice(-KEEP);
        const staged = `${this.path}.${process.pid}.tmp`;
        writeFileSync(staged, `${kept.join('\n')}\n`);
        renameSync(staged, this.path);
      }
    } catch {
      // best effort: a memo that cannot be compacted still answers
    }
    return this.known;
  }

  has(id: string): boolean {
    return this.load().has(id);
  }

  /** Remembers a verified signature; a line appended at once, so concurrent processes never lose one another's. */
  add(id: string): void {
    const known = this.load();
    if (known.has(id)) return;
    known.add(id);
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      appendFileSync(this.path, `${id}\n`);
    } catch {
      // best effort: the next run verifies it again
    }
  }
}

let shared: VerifiedSignatures | undefined;

/** This user's memo of verified signatures. */
export function verifiedSignatures(env: NodeJS.ProcessEnv = process.env): VerifiedSignatures {
  const path = env.FLYWHEEL_VERIFIED_SIGNATURES || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'flywheel', 'verified-signatures');
  if (shared?.path !== path) shared = new VerifiedSignatures(path);
  return shared;
}
