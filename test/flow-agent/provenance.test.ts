import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, runJson } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

// Every model version deploy registers gets signed provenance: an in-toto Statement with a SLSA
// Provenance predicate in a DSSE envelope. `flywheel model verify` checks it, and so does a verifier
// nobody on the team wrote (securesystemslib, in the tools cache's attest-venv).
const ATTEST_PYTHON = join(process.env.FLYWHEEL_TOOLS_DIR ?? join(homedir(), '.cache', 'flywheel-tools'), 'attest-venv', 'bin', 'python');
const run = promisify(execFile);

interface Envelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

async function keys(dir: string, name: string): Promise<{ id: string; key: string; pub: string }> {
  const made = await runCli(['keys', 'generate', '--out', dir, '--name', name, '--json'], { cwd: dir });
  const { id, privateKey, publicKey } = JSON.parse(made.stdout) as { id: string; privateKey: string; publicKey: string };
  return { id, key: privateKey, pub: publicKey };
}

async function securesystemslib(envelope: string, pub: string, keyid: string): Promise<{ code: number; out: string }> {
  return run(ATTEST_PYTHON, [join(REPO, 'scripts', 'verify-dsse.py'), envelope, pub, keyid]).then(
    ({ stdout }) => ({ code: 0, out: stdout }),
    (error: { code: number; stderr: string }) => ({ code: error.code, out: error.stderr }),
  );
}

describe('provenance of every registered model', () => {
  it('deploy signs it; model verify and securesystemslib check it; a changed envelope or model fails naming what differs', async () => {
    const cwd = await tempDir('flywheel-provenance');
    const ci = await keys(cwd, 'ci');
    const other = await keys(cwd, 'other');
    const env = { OPENAI_API_KEY: '', FLYWHEEL_SIGNING_KEY: ci.key, FLYWHEEL_TRUSTED_KEYS: ci.pub, FLYWHEEL_VERIFIED_SIGNATURES: join(cwd, 'verified') };
    const first = await runJson('flow-agent', [], { cwd, env });
    expect(first.code, first.stderr).toBe(0);

    const verified = await runCli(['model', 'verify', '1'], { cwd, env });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(
      new RegExp(`^v1: provenance verified, signed by ${ci.id}; built by run ${first.run.runId} from \\d+ steps; subject models/`),
    );

    // The statement: the model's digest as subject, every step upstream with key and code, the data as dependencies.
    const path = join(cwd, '.flywheel', 'registry', 'provenance', 'v1.intoto.json');
    const envelope = JSON.parse(await readFile(path, 'utf8')) as Envelope;
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
      _type: string;
      predicateType: string;
      subject: Array<{ digest: { sha256: string } }>;
      predicate: {
        buildDefinition: {
          externalParameters: { pipeline: string; choices: string[] };
          internalParameters: { steps: Array<{ id: string; key: string; code: string | null }> };
          resolvedDependencies: Array<{ name: string }>;
        };
        runDetails: { metadata: { invocationId: string } };
      };
    };
    expect([statement._type, statement.predicateType]).toEqual(['https://in-toto.io/Statement/v1', 'https://slsa.dev/provenance/v1']);
    const registry = JSON.parse(await readFile(join(cwd, '.flywheel', 'registry', 'registry.json'), 'utf8')) as { versions: Array<{ modelDigest: string }> };
    expect(statement.subject[0]?.digest.sha256).toBe(registry.versions[0]?.modelDigest);
    const steps = statement.predicate.buildDefinition.internalParameters.steps;
    const train = steps.find((s) => s.id === 'train');
    expect(train?.key).toBe(first.run.steps.find((s) => s.id === 'train')?.cacheKey);
    expect(train?.code).toMatch(/^[0-9a-f]{64}$/);
    expect(steps.map((s) => s.id)).toEqual(expect.arrayContaining(['collect', 'synthesize', 'evaluate', 'judge-trust', 'mirror']));
    expect(statement.predicate.buildDefinition.resolvedDependencies.map((d) => d.name)).toEqual(expect.arrayContaining(['production.data', 'benchmark.data']));
    expect(statement.predicate.runDetails.metadata.invocationId).toBe(first.run.runId);
    expect(statement.predicate.buildDefinition.externalParameters).toMatchObject({ pipeline: 'flow-agent', choices: [] });

    // The run's deploy step outputs it for the run view's deploy panel.
    const output = JSON.parse((await runCli(['output', 'deploy.provenance'], { cwd, env })).stdout) as { path: string; signedBy: string[]; statement: unknown };
    expect(output).toEqual({ path, signedBy: [ci.id], statement });

    // A verifier nobody on the team wrote agrees.
    const external = await securesystemslib(path, ci.pub, ci.id);
    expect(external.code, external.out).toBe(0);
    expect(JSON.parse(external.out)).toMatchObject({ verified: true, subject: statement.subject });
    expect((await securesystemslib(path, other.pub, ci.id)).code).not.toBe(0);

    // Not trusted: another key signed it.
    const elsewhere = await runCli(['model', 'verify', '1'], { cwd, env: { ...env, FLYWHEEL_SIGNING_KEY: '', FLYWHEEL_TRUSTED_KEYS: other.pub } });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain(`signed by ${ci.id}, not a trusted key`);

    // A tampered envelope: a step's key changed in the statement.
    const original = await readFile(path, 'utf8');
    const changed = { ...statement, predicate: { ...statement.predicate } };
    changed.predicate.buildDefinition.internalParameters.steps[0] = { ...(steps[0] as { id: string; key: string; code: string | null }), key: '0'.repeat(64) };
    await writeFile(path, JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(changed)).toString('base64') }));
    const tampered = await runCli(['model', 'verify', '1'], { cwd, env });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain(`the signature by ${ci.id} does not verify (the envelope was changed after signing)`);
    expect((await securesystemslib(path, ci.pub, ci.id)).code).not.toBe(0);
    await writeFile(path, original);

    // The model file replaced in the registry.
    const modelPath = join(cwd, '.flywheel', 'registry', `models/${registry.versions[0]?.modelDigest ?? ''}.model`);
    await writeFile(modelPath, 'a model of the attacker\n');
    const swapped = await runCli(['model', 'verify', '1'], { cwd, env });
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`the model bytes differ: ${modelPath} has digest`);
    expect(swapped.stderr).toContain(`the provenance names ${registry.versions[0]?.modelDigest ?? ''}`);
  });
});
