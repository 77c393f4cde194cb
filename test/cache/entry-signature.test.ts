import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkEntry, keyIdOf, signEntry, type Signer } from '../../cache/entry-signature.js';
import type { CacheKey, Digest } from '../../cache/digest.js';
import { parseActionEntry, type ActionEntry } from '../../cache/records.js';
import { canonicalJson } from '../../cache/canonical.js';
import { VerifiedSignatures } from '../../cache/verified-signatures.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../support/temp-dir.js';

function signer(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { id: keyIdOf(publicKey), privateKey, publicKey };
}

const hex = (c: string): string => c.repeat(64);
const entry: ActionEntry = {
  format: 'flywheel.action/v1',
  key: hex('a') as CacheKey,
  step: 'fine-tune',
  createdAt: '2026-12-07T00:00:00.000Z',
  durationMs: 43_200_000,
  runId: 'weekly-49',
  outputs: { adapter: { kind: 'dir', digest: hex('b') as Digest, size: 1024 } },
  components: { step: 'fine-tune', version: '3', ports: { inputs: { train: 'file' }, outputs: { adapter: 'dir' } }, config: { rank: 16 }, inputs: {}, env: {} },
  code: { scheme: 'esbuild-minify/1', digest: hex('c') as Digest, files: { 'steps/fine-tune.ts': hex('d') } },
};

describe('entry signatures', () => {
  it('verify after the store has written and read the entry back, and only for a trusted signer', async () => {
    const ci = signer();
    const other = signer();
    const signed = signEntry(entry, ci);
    const stored = parseActionEntry(canonicalJson(signed), entry.key);
    expect(stored).not.toBe('unreadable');
    expect(await checkEntry(stored as ActionEntry, new Map([[ci.id, ci.publicKey]]))).toEqual({ trusted: true, signer: ci.id });
    expect(await checkEntry(stored as ActionEntry, new Map([[other.id, other.publicKey]]))).toMatchObject({ trusted: false, signer: ci.id });
    expect(await checkEntry(entry, new Map([[ci.id, ci.publicKey]]))).toEqual({ trusted: false, signer: undefined, reason: 'the stored entry is unsigned' });
    // Rotation: a reader trusting both the old and the new key accepts either.
    const both = new Map([
      [ci.id, ci.publicKey],
      [other.id, other.publicKey],
    ]);
    expect((await checkEntry(signEntry(entry, other), both)).trusted).toBe(true);
  });

  it('cover the key, every output digest, the code fingerprint, the run, whether it declined and the signer id', async () => {
    const ci = signer();
    const trusted = new Map([[ci.id, ci.publicKey]]);
    const signed = signEntry(entry, ci);
    const changes: Array<[string, (e: ActionEntry) => ActionEntry]> = [
      ['key', (e) => ({ ...e, key: hex('e') as CacheKey })],
      ['output digest', (e) => ({ ...e, outputs: { adapter: { kind: 'dir', digest: hex('f') as Digest, size: 1024 } } })],
      ['output added', (e) => ({ ...e, outputs: { ...e.outputs, extra: { kind: 'file', digest: hex('f') as Digest, size: 1 } } })],
      ['code fingerprint', (e) => ({ ...e, code: { ...(e.code as NonNullable<ActionEntry['code']>), digest: hex('0') as Digest } })],
      ['code removed', ({ code: _code, ...e }) => e],
      ['run id', (e) => ({ ...e, runId: 'attacker' })],
      // Whether the step declined to act is part of the result: a promotion cannot be passed off as a refusal, nor the reverse.
      ['declined added', (e) => ({ ...e, declined: 'kept out' })],
      ['signer id', (e) => ({ ...e, signature: { signer: 'ed25519:0000000000000000', value: e.signature?.value ?? '' } })],
      ['signature bytes', (e) => ({ ...e, signature: { signer: ci.id, value: Buffer.alloc(64).toString('base64') } })],
    ];
    expect((await checkEntry(signed, trusted)).trusted).toBe(true);
    for (const [what, change] of changes) expect((await checkEntry(change(signed), trusted)).trusted, what).toBe(false);
  });

  it('a memo of verified signatures spares re-verifying exactly what was verified, and nothing else', async () => {
    const ci = signer();
    const trusted = new Map([[ci.id, ci.publicKey]]);
    const path = join(await tempDir('flywheel-verified'), 'verified-signatures');
    const signed = signEntry(entry, ci);
    expect((await checkEntry(signed, trusted, new VerifiedSignatures(path))).trusted).toBe(true);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(1);
    // Another process reads the memo: the same entry is trusted, a changed one is verified and refused.
    const later = new VerifiedSignatures(path);
    expect((await checkEntry(signed, trusted, later)).trusted).toBe(true);
    expect((await checkEntry({ ...signed, runId: 'attacker' }, trusted, later)).trusted).toBe(false);
    // A signer no longer trusted is refused whatever the memo says.
    expect((await checkEntry(signed, new Map(), later)).trusted).toBe(false);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('refuses, without crashing, what cannot be checked: an output smuggled in under __proto__, a malformed signature', async () => {
    const ci = signer();
    const trusted = new Map([[ci.id, ci.publicKey]]);
    const signed = signEntry(entry, ci);
    // JSON.parse makes __proto__ an own key; canonical JSON refuses it rather than dropping it from the signed bytes.
    const smuggled = JSON.parse(
      canonicalJson(signed).replace('"outputs":{"adapter":{', '"outputs":{"__proto__":{"kind":"file","digest":"' + hex('9') + '","size":1},"adapter":{'),
    ) as ActionEntry;
    expect(Object.keys(smuggled.outputs)).toContain('__proto__');
    expect(await checkEntry(smuggled, trusted)).toMatchObject({ trusted: false, reason: expect.stringContaining('cannot be checked') });
    // A signature of the wrong shape is not an entry at all.
    expect(parseActionEntry(canonicalJson({ ...signed, signature: { signer: ci.id, value: 7 } }), entry.key)).toBe('unreadable');
    expect(parseActionEntry(JSON.stringify({ ...signed, signature: null }), entry.key)).toBe('unreadable');
  });
});
