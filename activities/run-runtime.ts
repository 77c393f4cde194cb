import { FlywheelError } from '../cache/errors.js';
import { trustedKeyIds, trustFromEnv } from '../cache/trust-config.js';
import { existsSync } from 'node:fs';
import { canonicalJson } from '../cache/canonical.js';
import { openRunStore } from '../cache/open-store.js';
import type { Store } from '../cache/store.js';
import type { ConfigOverrides } from '../engine/validate/config-overrides.js';
import { validatePipeline, type ResolvedPipeline } from '../engine/validate/validate.js';
import { loadPipeline } from '../engine/load/load-pipeline.js';
import { nodeOf } from '../engine/keys/node-key.js';
import type { ResolvedNode } from '../engine/validate/validate.js';
import type { RunContext } from '../workflows/types.js';
import { toApplicationFailure } from './failures.js';

/** A worker serves a run only if it trusts every key the run's client trusts (else it would serve what the client refuses). */
function requireTrust(required: readonly string[] | undefined): void {
  if (required === undefined || required.length === 0) return;
  const own = new Set(trustedKeyIds(trustFromEnv(process.env)));
  const missing = required.filter((id) => !own.has(id));
  if (missing.length > 0)
    throw new FlywheelError('WORKER_MISCONFIGURED', `the run trusts keys this worker does not: ${missing.join(', ')}`, {
      fix: "give the workers the run's trusted keys (FLYWHEEL_TRUSTED_KEYS) and a signing key among them",
    });
}

/** Validated pipelines kept per worker (code version × overrides); the oldest goes first. */
const MAX_PIPELINES = 32;

/**
 * What a worker keeps between activities: each store opened once, each pipeline (code version + overrides)
 * validated once. A worker serves many runs, so both are keyed by what identifies them.
 */
export class RunRuntime {
  private readonly stores = new Map<string, Store>();
  private readonly pipelines = new Map<string, ResolvedPipeline>();

  store(location: string, readFrom: readonly string[] = []): Store {
    const id = [location, ...readFrom].join('\0');
    let store = this.stores.get(id);
    if (store === undefined) {
      // The client's layers, not the worker's own FLYWHEEL_READ_FROM: a run reads what it was started with.
      store = openRunStore(location, readFrom.join(','));
      this.stores.set(id, store);
    }
    return store;
  }

  /**
   * The client's resolved path when this worker has it (same checkout), else the name as the user gave it.
   * Compiling is a cheap check when no source changed, and its bundle names the code: a long-running
   * worker picks up an edited pipeline or step on the next run instead of serving the old one.
   */
  async pipeline(context: Pick<RunContext, 'pipelinePath' | 'pipelineRef' | 'overrides'>): Promise<ResolvedPipeline> {
    const source = existsSync(context.pipelinePath) ? context.pipelinePath : context.pipelineRef;
    const { definition, bundle } = await loadPipeline(source);
    const id = `${bundle}\0${canonicalJson(context.overrides)}`;
    let pipeline = this.pipelines.get(id);
    if (pipeline === undefined) {
      pipeline = validatePipeline(definition, context.overrides as ConfigOverrides);
      if (this.pipelines.size >= MAX_PIPELINES) this.pipelines.delete(this.pipelines.keys().next().value as string);
      this.pipelines.set(id, pipeline);
    }
    return pipeline;
  }

  /** The run's pipeline and store on this worker, and one of its nodes; what goes wrong becomes an ApplicationFailure. */
  async load(context: RunContext): Promise<{ pipeline: ResolvedPipeline; store: Store }>;
  async load(context: RunContext, id: string): Promise<{ pipeline: ResolvedPipeline; store: Store; node: ResolvedNode }>;
  async load(context: RunContext, id?: string): Promise<{ pipeline: ResolvedPipeline; store: Store; node?: ResolvedNode }> {
    try {
      requireTrust(context.trustedKeys);
      const pipeline = await this.pipeline(context);
      return { pipeline, store: this.store(context.store, context.readFrom), ...(id === undefined ? {} : { node: nodeOf(pipeline, id) }) };
    } catch (error) {
      throw toApplicationFailure(error);
    }
  }
}
