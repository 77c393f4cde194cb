import type { Logger } from 'pino';
import type { CacheKey } from '../../cache/digest.js';
import { classifyError } from '../../cache/errors.js';
import type { Store } from '../../cache/store.js';
import type { ElementResult, Outputs } from '../core/run-protocol.js';
import { executeOnce, type ExecuteOutcome } from '../execute-once.js';
import { mapBounded } from '../map-bounded.js';
import type { ResolvedNode } from '../validate.js';
import { mapOf, readUnits } from './collection.js';
import { plannedMapKeys } from './resolve-map.js';

/** An error message kept in a record or an activity result: long enough to act on, short enough for 10,000 of them. */
const MESSAGE_KEPT = 600;

export interface ExecuteElementsRequest {
  node: ResolvedNode;
  /** The whole map's key as the run resolved it: a worker computing another runs other code. */
  key: CacheKey;
  indices: readonly number[];
  lookAgain: boolean;
  runId: string;
  upstream: Record<string, Outputs>;
  upstreamKeys: Record<string, CacheKey>;
  store: Store;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
  /** Invocations of this chunk executing at once. */
  parallel: number;
  onResult?: (result: ElementResult) => void;
}

function resultOf(index: number, outcome: ExecuteOutcome): ElementResult {
  switch (outcome.kind) {
    case 'executed':
      return { index, status: 'executed' };
    case 'reused':
      return { index, status: 'cached' };
    case 'failed':
      return {
        index,
        status: 'failed',
        error: { code: outcome.error.code, message: outcome.error.message.slice(0, MESSAGE_KEPT) },
        ...(outcome.logs === undefined ? {} : { logs: outcome.logs }),
      };
    case 'contended':
      return { index, status: 'failed', error: { code: 'STEP_FAILED', message: `internal: a waiting claim came back held by ${outcome.holder.description}` } };
  }
}

/**
 * Executes a chunk of a map's invocations, each exactly as a step is executed (claim its key, look
 * again, run with its retries, store, release), with its element given to the `over` input. Each one
 * ends executed, reused or failed on its own: one failed element never fails the others.
 */
export async function executeElements(request: ExecuteElementsRequest): Promise<ElementResult[]> {
  const { node, store, env } = request;
  const upstream = (id: string): Outputs | undefined => request.upstream[id];
  const keys = await plannedMapKeys(node, upstream, env, request.key);
  const units = await readUnits(store, node, upstream);
  const { over, batchSize } = mapOf(node);
  const batched = batchSize > 1;
  return mapBounded(request.indices, Math.max(1, request.parallel), async (index) => {
    const unit = units[index];
    let result: ElementResult;
    if (unit === undefined) {
      result = { index, status: 'failed', error: { code: 'MAP_OVER_INVALID', message: `the collection has no element ${index}` } };
    } else {
      const own = await keys.unitKey(unit);
      const outcome = await executeOnce({
        node,
        key: own.key,
        components: own.components,
        lookAgain: request.lookAgain,
        runId: request.runId,
        upstream,
        upstreamKey: (id) => request.upstreamKeys[id],
        store,
        env,
        log: request.log.child({ element: index, cacheKey: own.key }),
        signal: request.signal,
        wait: true,
        // An invocation's lines are not a log of their own (10,000 elements are not 10,000 blobs); a map's log is still to come.
        // Every element's lines go to the map's live log; a failed one's are also kept, for its record.
        captureLogs: 'failures',
        logPrefix: `element ${index}: `,
        // Each invocation gets its own copy: a step that changes its input must not change another's.
        given: { [over]: unit.given.kind === 'value' ? { kind: 'value', value: structuredClone(unit.given.value) } : unit.given },
        ...(batched && Array.isArray(unit.given.kind === 'value' ? unit.given.value : undefined)
          ? { batchLength: (unit.given as { value: unknown[] }).value.length }
          : {}),
      }).catch((error: unknown): ExecuteOutcome => ({ kind: 'failed', error: classifyError(error), attempts: 0, shared: false }));
      result = resultOf(index, outcome);
      if (result.status === 'failed') request.log.warn({ element: index, code: result.error?.code, err: result.error?.message }, 'element failed');
    }
    request.onResult?.(result);
    return result;
  });
}
