import { existsSync } from 'node:fs';
import { canonicalJson } from '../cache/canonical.js';
import { openStore } from '../cache/open-store.js';
import type { Store } from '../cache/store.js';
import type { ConfigOverrides } from '../engine/config-overrides.js';
import { validatePipeline, type ResolvedPipeline } from '../engine/validate.js';
import { loadPipeline } from '../cli/load-pipeline.js';
import type { RunContext } from '../workflows/types.js';

/**
 * What a worker keeps between activities: each store opened once, each pipeline (file + overrides)
 * compiled and validated once. A worker serves many runs, so both are keyed by what identifies them.
 */
export class RunRuntime {
  private readonly stores = new Map<string, Store>();
  private readonly pipelines = new Map<string, Promise<ResolvedPipeline>>();

  store(location: string): Store {
    let store = this.stores.get(location);
    if (store === undefined) {
      store = openStore(location);
      this.stores.set(location, store);
    }
    return store;
  }

  /** The client's resolved path when this worker has it (same checkout), else the name as the user gave it. */
  pipeline(context: Pick<RunContext, 'pipelinePath' | 'pipelineRef' | 'overrides'>): Promise<ResolvedPipeline> {
    const source = existsSync(context.pipelinePath) ? context.pipelinePath : context.pipelineRef;
    const id = `${source}\0${canonicalJson(context.overrides)}`;
    let pipeline = this.pipelines.get(id);
    if (pipeline === undefined) {
      pipeline = loadPipeline(source).then(({ definition }) => validatePipeline(definition, context.overrides as ConfigOverrides));
      // A failed load is not remembered: the file may be fixed before the next run.
      pipeline.catch(() => this.pipelines.delete(id));
      this.pipelines.set(id, pipeline);
    }
    return pipeline;
  }
}
