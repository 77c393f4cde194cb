import type { Logger } from 'pino';
import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey } from '../../cache/digest.js';
import { classifyError } from '../../cache/errors.js';
import type { Store } from '../../cache/store.js';
import { elementResult, failedElements, type ExecuteOutcome } from '../core/outcome.js';
import type { ElementResult, Outputs } from '../core/run-protocol.js';
import { executeOnce, wasSuperseded } from '../execute/execute-once.js';
import { mapBounded } from '../helpers/map-bounded.js';
import { checkedKeyOf, elementKeys } from '../keys/node-key.js';
import type { ResolvedNode } from '../validate/validate.js';
import { mapOf, readElements } from './collection.js';

export interface ExecuteElementsRequest {
  node: ResolvedNode;
  /** The whole map's key as the run resolved it: a worker computing another runs other code. */
  key: CacheKey;
  components: KeyComponents;
  indices: readonly number[];
  /** Each one's attempt number, as the run core counts them; absent: first attempts. */
  attempts?: readonly number[] | undefined;
  lookAgain: boolean;
  runId: string;
  upstream: Record<string, Outputs>;
  upstreamKeys: Record<string, CacheKey>;
  store: Store;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
  /** Elements of this chunk executing at once. */
  parallel: number;
  /** Check the map's key against this process's code (a worker); the process that resolved it need not. */
  checkKey: boolean;
  /** Asked before each element runs (see ExecuteOnceRequest.confirmAttempt). */
  confirmAttempt?: () => Promise<boolean>;
  onResult?: (result: ElementResult) => void;
}

/**
 * Executes a chunk of a map's elements, each exactly as one attempt of a step is executed (claim its
 * key, look again, run, store, release), with its element given to the `over` input. Each one ends
 * executed, reused or failed on its own: one failed element never fails the others, and whether it is
 * tried again is the run core's decision. A chunk that cannot start at all fails each of its elements.
 */
export async function executeElements(request: ExecuteElementsRequest): Promise<ElementResult[]> {
  try {
    return await executeChunk(request);
  } catch (error) {
    return failedElements(request.indices, classifyError(error));
  }
}

async function executeChunk(request: ExecuteElementsRequest): Promise<ElementResult[]> {
  const { node, store, env } = request;
  const upstream = (id: string): Outputs | undefined => request.upstream[id];
  if (request.checkKey) checkedKeyOf(node, upstream, env, request);
  const elements = await readElements(store, node, upstream);
  const { over, batchSize } = mapOf(node);
  const batched = batchSize > 1;
  const positions = new Map(request.indices.map((index, i) => [index, i]));
  const keyOfElement = elementKeys(node, upstream, env);
  return mapBounded(request.indices, Math.max(1, request.parallel), async (index) => {
    const element = elements[index];
    let result: ElementResult;
    if (element === undefined) {
      result = { index, status: 'failed', error: { code: 'MAP_OVER_INVALID', message: `the collection has no element ${index}` }, retryable: false };
    } else {
      const own = await keyOfElement(element);
      const attempt = request.attempts?.[positions.get(index) ?? -1] ?? 1;
      const given = element.given.kind === 'value' ? element.given.value : undefined;
      const outcome = await executeOnce({
        node,
        key: own.key,
        components: own.components,
        lookAgain: request.lookAgain,
        attempt,
        runId: request.runId,
        upstream,
        upstreamKey: (id) => request.upstreamKeys[id],
        store,
        env,
        log: request.log.child({ element: index, cacheKey: own.key }),
        signal: request.signal,
        wait: true,
        // Every element's lines go to the map's live log; a failed one's are also kept, for its record.
        captureLogs: 'failures',
        logPrefix: `element ${index}: `,
        // Each element gets its own copy: a step that changes its input must not change another's.
        given: { [over]: element.given.kind === 'value' ? { kind: 'value', value: structuredClone(given) } : element.given },
        ...(batched && Array.isArray(given) ? { batchLength: given.length } : {}),
        ...(request.confirmAttempt === undefined ? {} : { confirmAttempt: request.confirmAttempt }),
      }).catch((error: unknown): ExecuteOutcome => ({ kind: 'failed', error: classifyError(error), shared: false }));
      result = elementResult(index, outcome);
      if (outcome.kind === 'failed' && !wasSuperseded(outcome)) {
        // The run core tries it again when the step's policy says so: only a final failure is one.
        const fields = { element: index, attempt, code: outcome.error.code, err: outcome.error.message };
        request.log.warn(fields, outcome.final === false ? 'element attempt failed; trying again' : 'element failed');
      }
    }
    request.onResult?.(result);
    return result;
  });
}
