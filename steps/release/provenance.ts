import { hostname } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signEnvelope, verifyEnvelope, type DsseEnvelope, type Lineage } from 'flywheel';
import { z } from 'zod';
import { modelDigestOf, type ModelRegistry, type ModelVersion } from './model-registry.js';

// Provenance for every model the registry holds: an in-toto Statement (v1) whose predicate is SLSA
// Provenance (v1), signed as a DSSE envelope with the writer's key and kept beside the registry's entry.
// It says which run made the model, from which data, by which steps, keys and code.

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const BUILD_TYPE = 'https://flywheel.dev/pipeline-run/v1';

/** A digest set as in-toto writes it: a model file's SHA-256, or an adapter folder's Flywheel directory digest. */
const digestSet = (digest: string, folder: boolean): Record<string, string> => (folder ? { 'flywheel-dir-sha256': digest } : { sha256: digest });

export interface ProvenanceInput {
  version: ModelVersion;
  folder: boolean;
  lineage: Lineage;
  finishedOn: string;
}

/** The in-toto Statement of how a model version was built. */
export function provenanceStatement(input: ProvenanceInput): Record<string, unknown> {
  const { version, folder } = input;
  const { run, steps: lineage } = input.lineage;
  // The data: outputs of the steps with no inputs (snapshots of production, the benchmark, the labels).
  const sources = lineage.filter((s) => s.components !== undefined && Object.keys(s.components.inputs).length === 0);
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `${version.path}`, digest: digestSet(version.modelDigest, folder) }],
    predicateType: PROVENANCE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          pipeline: run.pipeline,
          choices: run.overrides,
          config: Object.fromEntries(lineage.map((s) => [s.id, s.components?.config ?? null])),
        },
        internalParameters: {
          steps: lineage.map((s) => ({
            id: s.id,
            step: s.components?.step ?? null,
            version: s.components?.version ?? null,
            key: s.key,
            code: s.code ?? null,
            outputs: s.outputs,
            ...(s.computedBy === undefined ? {} : { computedBy: s.computedBy }),
          })),
        },
        resolvedDependencies: sources.flatMap((s) =>
          Object.entries(s.outputs).map(([name, digest]) => ({ name: `${s.id}.${name}`, digest: { sha256: digest } })),
        ),
      },
      runDetails: {
        builder: { id: `https://flywheel.dev/builder/flywheel/${run.engine ?? 'local'}` },
        metadata: { invocationId: run.runId, startedOn: run.startedAt, finishedOn: input.finishedOn },
        byproducts: [{ name: 'worker', annotations: { host: hostname(), pid: process.pid } }],
      },
    },
  };
}

/** Where a version's envelope lives in the registry. */
export const provenancePath = (registry: ModelRegistry, version: number): string => join(registry.root, 'provenance', `v${version}.intoto.json`);

/** Signs the statement with the writer's key (FLYWHEEL_SIGNING_KEY) and writes it beside the registry entry. */
export async function writeProvenance(registry: ModelRegistry, input: ProvenanceInput): Promise<DsseEnvelope> {
  const envelope = signEnvelope(PAYLOAD_TYPE, Buffer.from(JSON.stringify(provenanceStatement(input))));
  const path = provenancePath(registry, input.version.version);
  await mkdir(join(registry.root, 'provenance'), { recursive: true });
  await writeFile(path, `${JSON.stringify(envelope, null, 2)}\n`);
  return envelope;
}

/** What deploy outputs of a version's provenance, for the run view: where it is, who signed it, and the statement itself. */
export const ProvenanceSummary = z.object({ path: z.string(), signedBy: z.array(z.string()), statement: z.record(z.string(), z.unknown()) }).nullable();
export type ProvenanceSummary = z.infer<typeof ProvenanceSummary>;

/** The version's provenance as deploy outputs it; null when it has none (registered before provenance was written). */
export async function provenanceSummary(registry: ModelRegistry, version: number): Promise<ProvenanceSummary> {
  const path = provenancePath(registry, version);
  const envelope = await readFile(path, 'utf8').then(
    (text) => JSON.parse(text) as DsseEnvelope,
    () => undefined,
  );
  if (envelope === undefined) return null;
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Record<string, unknown>;
  return { path, signedBy: envelope.signatures.map((s) => s.keyid), statement };
}

/** What verification reads of a signed statement (read loosely: a field missing is a failed check, not a crash). */
interface SignedStatement {
  _type?: string;
  predicateType?: string;
  subject?: Array<{ name: string; digest: Record<string, string> }>;
  predicate?: { runDetails?: { metadata?: { invocationId?: string } }; buildDefinition?: { internalParameters?: { steps?: unknown[] } } };
}

export type ProvenanceCheck = { ok: true; signer: string; runId: string; steps: number; subject: string } | { ok: false; problem: string };

/** Checks a version's envelope against the trusted keys, and that the registry's bytes are the ones it names. */
export async function checkProvenance(registry: ModelRegistry, version: ModelVersion): Promise<ProvenanceCheck> {
  let envelope: DsseEnvelope;
  try {
    envelope = JSON.parse(await readFile(provenancePath(registry, version.version), 'utf8')) as DsseEnvelope;
  } catch (error) {
    return { ok: false, problem: `no readable provenance for v${version.version} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  if (envelope?.payloadType !== PAYLOAD_TYPE)
    return { ok: false, problem: `the envelope's payload type is ${JSON.stringify(envelope?.payloadType)}, not ${PAYLOAD_TYPE}` };
  const check = verifyEnvelope(envelope);
  if (!check.verified) return { ok: false, problem: `the provenance of v${version.version} is not trusted: ${check.reason}` };
  let statement: SignedStatement;
  try {
    statement = JSON.parse(check.payload.toString('utf8')) as SignedStatement;
  } catch {
    return { ok: false, problem: 'the signed payload is not JSON' };
  }
  if (statement._type !== STATEMENT_TYPE || statement.predicateType !== PROVENANCE_TYPE)
    return { ok: false, problem: 'the envelope does not hold an in-toto SLSA provenance statement' };
  const subject = statement.subject?.[0];
  if (subject?.name !== version.path)
    return { ok: false, problem: `the provenance is of ${subject?.name ?? 'nothing'}, not v${version.version}'s ${version.path}` };
  const claimed = Object.values(subject.digest)[0];
  const actual = await modelDigestOf(join(registry.root, version.path)).catch((error: Error) => `unreadable (${error.message})`);
  if (claimed !== actual)
    return {
      ok: false,
      problem: `the model bytes differ: ${join(registry.root, version.path)} has digest ${actual}, the provenance names ${claimed ?? 'nothing'}`,
    };
  return {
    ok: true,
    signer: check.keyid,
    runId: statement.predicate?.runDetails?.metadata?.invocationId ?? '?',
    steps: statement.predicate?.buildDefinition?.internalParameters?.steps?.length ?? 0,
    subject: `${subject.name} ${Object.entries(subject.digest)
      .map(([alg, d]) => `${alg}:${d}`)
      .join(' ')}`,
  };
}
