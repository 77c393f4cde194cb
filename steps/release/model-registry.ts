import { createHash, randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileWhole, withFileLock, directoryDigest, FlywheelError } from 'flywheel';

export const ModelVersion = z.object({
  version: z.number().int().min(1),
  createdAt: z.string(),
  /** Lineage: which run made it, from which data and config, scoring what. */
  runId: z.string(),
  modelDigest: z.string(),
  dataDigest: z.string(),
  config: z.record(z.string(), z.unknown()),
  /** The evaluation the version was judged by (its shape is the pipeline's). */
  metrics: z.unknown(),
  /** The model file inside the registry. */
  path: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersion>;

export const AliasChange = z.object({
  alias: z.enum(['production', 'candidate']),
  version: z.number().int().nullable(),
  at: z.string(),
  reason: z.string(),
  /** Set on a rollback: the version taken out of production (automatic promotion leaves it out). */
  rolledBackFrom: z.number().int().optional(),
});
export type AliasChange = z.infer<typeof AliasChange>;

export const RegistryState = z.object({
  format: z.literal('flywheel.registry/v1'),
  versions: z.array(ModelVersion),
  aliases: z.object({ production: z.number().int().nullable(), candidate: z.number().int().nullable() }),
  history: z.array(AliasChange),
});
export type RegistryState = z.infer<typeof RegistryState>;

const EMPTY: RegistryState = { format: 'flywheel.registry/v1', versions: [], aliases: { production: null, candidate: null }, history: [] };

/** Where the model registry lives: FLYWHEEL_REGISTRY, else `.flywheel/registry` in the working directory. */
export function registryLocation(location = process.env.FLYWHEEL_REGISTRY, cwd = process.cwd()): string {
  return resolve(cwd, location === undefined || location === '' ? join('.flywheel', 'registry') : location);
}

/**
 * Model versions with lineage and the aliases `production` and `candidate`, in a directory: a JSON
 * state file written whole under a lock, and each model file copied in under its digest.
 */
/** A model's digest: the SHA-256 of a model file, or the directory digest of an adapter folder. */
export async function modelDigestOf(path: string): Promise<string> {
  return (await stat(path)).isDirectory()
    ? directoryDigest(path)
    : createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
}

export class ModelRegistry {
  constructor(readonly root: string) {}

  async read(): Promise<RegistryState> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'registry.json'), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw error;
    }
    const parsed = RegistryState.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new FlywheelError('REGISTRY_UNREADABLE', `${join(this.root, 'registry.json')} is not a registry: ${parsed.error.issues[0]?.message ?? ''}`, {
        retryable: false,
        fix: 'restore the file from a backup or point FLYWHEEL_REGISTRY elsewhere',
      });
    return parsed.data;
  }

  /** Applies `change` to the state under the registry's lock and writes it whole. */
  async update<T>(change: (state: RegistryState) => Promise<T> | T): Promise<T> {
    await mkdir(this.root, { recursive: true });
    return withFileLock(join(this.root, 'registry.lock'), async () => {
      const state = await this.read();
      const result = await change(state);
      await writeFileWhole(join(this.root, 'registry.json'), `${JSON.stringify(state, null, 2)}\n`);
      return result;
    });
  }

  /**
   * Registers a model: a file, or a folder such as a LoRA adapter with its tokenizer. The same bytes
   * register once (their existing version is returned).
   */
  async register(
    model: string,
    lineage: Omit<ModelVersion, 'version' | 'createdAt' | 'modelDigest' | 'path'>,
  ): Promise<{ version: ModelVersion; created: boolean }> {
    const folder = (await stat(model)).isDirectory();
    const modelDigest = await modelDigestOf(model);
    return this.update(async (state) => {
      const existing = state.versions.find((v) => v.modelDigest === modelDigest);
      if (existing !== undefined) return { version: existing, created: false };
      await mkdir(join(this.root, 'models'), { recursive: true });
      const path = join('models', folder ? modelDigest : `${modelDigest}.model`);
      if (folder) {
        const staging = join(this.root, 'models', `.${modelDigest}.${randomBytes(4).toString('hex')}`);
        await cp(model, staging, { recursive: true });
        await rm(join(this.root, path), { recursive: true, force: true });
        await rename(staging, join(this.root, path));
      } else {
        await copyFile(model, join(this.root, path));
      }
      const version: ModelVersion = { ...lineage, version: (state.versions.at(-1)?.version ?? 0) + 1, createdAt: new Date().toISOString(), modelDigest, path };
      state.versions.push(version);
      return { version, created: true };
    });
  }

  async setAlias(alias: 'production' | 'candidate', version: number, reason: string): Promise<void> {
    await this.update((state) => {
      if (!state.versions.some((v) => v.version === version))
        throw new FlywheelError('MODEL_VERSION_NOT_FOUND', `no model version ${version}`, { retryable: false, fix: 'list versions with `flywheel model ls`' });
      if (state.aliases[alias] === version) return; // idempotent: no history entry for a no-op
      state.aliases[alias] = version;
      state.history.push({ alias, version, at: new Date().toISOString(), reason });
    });
  }

  /** Points production back at the version it had before its latest change. */
  async rollback(): Promise<number> {
    return this.update((state) => {
      const changes = state.history.filter((h) => h.alias === 'production');
      const previous = changes.at(-2)?.version;
      if (previous === undefined || previous === null)
        throw new FlywheelError('NOTHING_TO_ROLL_BACK', 'production has no earlier version to go back to', {
          retryable: false,
          fix: 'promote a version explicitly: flywheel model promote <version>',
        });
      const from = changes.at(-1)?.version ?? null;
      state.aliases.production = previous;
      state.history.push({
        alias: 'production',
        version: previous,
        at: new Date().toISOString(),
        reason: `rollback from ${String(from)}`,
        ...(from === null ? {} : { rolledBackFrom: from }),
      });
      return previous;
    });
  }
}
