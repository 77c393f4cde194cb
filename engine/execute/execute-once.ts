import type { Logger } from 'pino';
import type { KeyComponents } from '../../cache/cache-key.js';
import type { CacheKey } from '../../cache/digest.js';
import { classifyError, FlywheelError, type EngineErrorCode } from '../../cache/errors.js';
import type { ActionEntry, Usage } from '../../cache/records.js';
import { addUsage } from '../core/usage.js';
import { UsageMeter } from './usage-meter.js';
import type { KeyLease, SharedFailure, Store } from '../../cache/store.js';
import { checkEntry, rememberSignature, signEntry } from '../../cache/entry-signature.js';
import { verifiedSignatures } from '../../cache/verified-signatures.js';
import { trustFromEnv, type Trust } from '../../cache/trust-config.js';
import { codeVariantKey } from '../../cache/cache-key.js';
import { sameCode } from '../code/code-fingerprint.js';
import { decide } from '../keys/decide.js';
import type { ExecuteOutcome } from '../core/outcome.js';
import { retryDelay } from '../core/retry-policy.js';
import type { ElementResult, Outputs } from '../core/run-protocol.js';
import type { Lineage, Progress } from '../define/define-step.js';
import { executeStep } from './execute-step.js';
import { tracer, type TraceSpan } from '../tracing/tracing.js';
import { keyOf } from '../keys/node-key.js';
import { StepLogCapture } from './step-logs.js';
import type { Digest } from '../../cache/digest.js';
import type { ResolvedNode } from '../validate/validate.js';
import type { GivenInput } from '../map/collection.js';

export interface ExecuteOnceRequest {
  node: ResolvedNode;
  key: CacheKey;
  components: KeyComponents;
  /** Look the key up again once claimed (not when forced or uncached): someone may have produced it meanwhile. */
  lookAgain: boolean;
  /** This attempt's number as the run core counts them (from 1), and what the previous one left: its checkpoint and log. */
  attempt: number;
  resume?: unknown;
  logsBefore?: Digest;
  runId: string;
  upstream: (nodeId: string) => Outputs | undefined;
  upstreamKey: (nodeId: string) => CacheKey | undefined;
  store: Store;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
  /** Wait while another process holds the key (the local executor), or answer `contended` at once (Temporal). */
  wait: boolean;
  /** Holders the caller already waited for: their failure is shared rather than tried again. */
  waitedFor?: readonly string[];
  onWait?: (holder: string) => void;
  onProgress?: (progress: Progress) => void;
  /** A map element's item, batch or file, given to its `over` input directly. */
  given?: Readonly<Record<string, GivenInput>>;
  /** A batch's size: each JSON output must then be an array of one result per item. */
  batchLength?: number;
  /** The step's upstream in this run (`ctx.lineage`), for a step that asked for it. */
  lineage?: Lineage;
  /**
   * Capture this execution's log into the store (default true): its lines in a blob named by the
   * outcome's `logs`, and appended live where the store has a live log path. `failures`: live lines
   * always, a blob only when it fails (a map's elements: 10,000 successes need no blob each).
   */
  captureLogs?: boolean | 'failures';
  /** Put before each captured line's message (a map element's index). */
  logPrefix?: string;
  /** The execution's span in the run's trace: the parent of its claim, inputs, work and outputs (none: untraced). */
  span?: TraceSpan;
  /** What this run's earlier attempts of the key consumed: the entry keeps what producing the result cost in all. */
  spentBefore?: Usage;
  /**
   * Asked before the key is claimed (the run sends only misses to execute) and again once it is: false when
   * this process must not do the work after all (a Temporal worker waking from a freeze holds attempts the server has since given
   * to another delivery; see attemptConfirmer).
   */
  confirmAttempt?: () => Promise<boolean>;
}

export type { ExecuteOutcome } from '../core/outcome.js';

type Claimed = Exclude<ExecuteOutcome, { kind: 'executed' }> | { kind: 'claimed'; lease: KeyLease };

const cancelledWhileWaiting = (node: ResolvedNode): Extract<ExecuteOutcome, { kind: 'failed' }> => ({
  kind: 'failed',
  error: { code: 'STEP_CANCELLED', message: `step ${node.id} was cancelled while waiting for another process computing the same key`, retryable: false },
  shared: false,
  final: true,
});

const SUPERSEDED: EngineErrorCode = 'ATTEMPT_SUPERSEDED';

/** Whether an attempt did not run because it had been given to another delivery (see confirmAttempt). */
export const wasSuperseded = (outcome: ExecuteOutcome | ElementResult): boolean => 'error' in outcome && outcome.error?.code === SUPERSEDED;

/** The attempt was given to another delivery while this one waited: nothing ran, whoever holds it now executes. */
/**
 * Classified like any ATTEMPT_SUPERSEDED (infrastructure: a map does not leave the element out). Final for
 * this attempt only: the server has handed the work to the next delivery, which runs it.
 */
const supersededAttempt = (node: ResolvedNode): Extract<ExecuteOutcome, { kind: 'failed' }> => {
  const { code, message, retryable, infrastructure } = classifyError(
    new FlywheelError(SUPERSEDED, `step ${node.id} was not started: this attempt was handed to another delivery while this worker was unresponsive`),
  );
  return { kind: 'failed', error: { code, message, retryable, ...(infrastructure ? { infrastructure } : {}) }, shared: false, final: true };
};

/** Whether this attempt may still do the work: yes unless the confirmer says definitely not. */
const stillCurrent = async (request: Pick<ExecuteOnceRequest, 'confirmAttempt'>): Promise<boolean> =>
  request.confirmAttempt === undefined || (await request.confirmAttempt().catch(() => true));

/** Claim the key, then look again: its result, a failure to share, or the lease to execute under. */
async function claimAndLookAgain(
  request: Pick<ExecuteOnceRequest, 'node' | 'key' | 'store' | 'env' | 'signal' | 'wait' | 'waitedFor' | 'onWait' | 'lookAgain'>,
): Promise<Claimed> {
  const { node, key, store, signal } = request;
  let claim;
  try {
    claim = await store.claimKey(key, {
      wait: request.wait,
      signal,
      ...(request.waitedFor === undefined ? {} : { waitedFor: request.waitedFor }),
      ...(request.onWait === undefined ? {} : { onWait: request.onWait }),
    });
  } catch (error) {
    if (!signal.aborted) throw error;
    return cancelledWhileWaiting(node);
  }
  if (!claim.claimed) return { kind: 'contended', holder: claim.holder };
  try {
    if (request.lookAgain) {
      // By the same rule as the look-up: a result of other code the step re-runs for is not reused.
      const again = await decide(node, key, { store, forced: undefined, repair: true, trusted: trustFromEnv(request.env).trusted });
      if (again.hit) {
        await claim.lease.release();
        const { outputs, durationMs, runId, declined, usage } = again.entry;
        return {
          kind: 'reused',
          outputs,
          durationMs,
          computedBy: runId,
          ...(declined === undefined ? {} : { declined }),
          ...(usage === undefined ? {} : { usage }),
        };
      }
    }
  } catch (error) {
    await claim.lease.release();
    throw error;
  }
  const failure = failureToShare(claim.sharedFailure, node.code?.digest);
  if (failure !== undefined) {
    await claim.lease.release();
    return { kind: 'failed', error: { code: failure.code, message: failure.message, retryable: false }, shared: true, final: true };
  }
  return { kind: 'claimed', lease: claim.lease };
}

/**
 * The failure a waiter shares, if any: only one of the same code. A fix made under an unchanged version
 * gets its own try instead of inheriting the failure of the code it fixes; unknown code shares as before.
 */
export function failureToShare(failure: SharedFailure | undefined, codeDigest: string | undefined): SharedFailure | undefined {
  if (failure === undefined) return undefined;
  return failure.codeDigest === undefined || codeDigest === undefined || failure.codeDigest === codeDigest ? failure : undefined;
}

/**
 * Executes a key once across every process sharing the store: claim it → look it up again → execute →
 * store → release. The local executor and the Temporal activities both call this, for one attempt of a
 * step or of a map element; identical work that several runs need at the same moment runs (and fails)
 * once. A failed attempt the step's policy tries again leaves no failure for waiters to share.
 */
export async function executeOnce(request: ExecuteOnceRequest): Promise<ExecuteOutcome> {
  const { node, key, store, signal } = request;
  // Before claiming: a superseded delivery must not hold the key, even briefly, from the one that replaced it.
  if (!(await stillCurrent(request))) return supersededAttempt(node);
  // The claim's span shows the time spent waiting for another process holding the key.
  const claiming = tracer().startSpan('claim key', {
    ...(request.span === undefined ? {} : { parent: request.span }),
    attributes: { 'flywheel.cache.key': key, 'flywheel.lease.wait': request.wait },
  });
  const claimed = await claimAndLookAgain(request).finally(() => claiming.end());
  if (claimed.kind !== 'claimed') return claimed;
  // And again once claimed, right before the work: a freeze during the claim (or the wait for another
  // holder) makes the first answer stale, and the confirmer asks anew.
  if (!(await stillCurrent(request))) {
    await claimed.lease.release();
    return supersededAttempt(node);
  }
  let failure: SharedFailure | undefined;
  const started = Date.now();
  const meter = new UsageMeter();
  const capture = request.captureLogs === false ? undefined : new StepLogCapture({ store, runId: request.runId, stepId: node.id });
  if (capture !== undefined && request.logsBefore !== undefined)
    capture.carryOver((await store.readBytes(request.logsBefore).catch(() => Buffer.alloc(0))).toString('utf8'));
  const log = capture === undefined ? request.log : capture.wrap(request.log, request.logPrefix);
  // The step's end line. A map element's goes to the map's log only: its chunk reports to the console.
  const endLine = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void => {
    if (capture === undefined) return;
    if (request.captureLogs === 'failures') capture.write(level, fields, `${request.logPrefix ?? ''}${message}`);
    else log[level](fields, message);
  };
  const logs = async (): Promise<{ logs?: Digest }> => {
    const digest = await capture?.finish();
    return digest === undefined ? {} : { logs: digest };
  };
  let checkpoint = request.resume;
  try {
    const { outputs, declined } = await executeStep(node, {
      store,
      runId: request.runId,
      log,
      signal,
      upstreamOutputs: request.upstream,
      upstreamKey: request.upstreamKey,
      attempt: request.attempt,
      onProgress: (progress) => {
        if (progress.details !== undefined) checkpoint = progress.details;
        request.onProgress?.(progress);
      },
      ...(request.resume === undefined ? {} : { resume: request.resume }),
      ...(request.given === undefined ? {} : { given: request.given }),
      ...(request.batchLength === undefined ? {} : { batchLength: request.batchLength }),
      ...(request.lineage === undefined ? {} : { lineage: request.lineage }),
      ...(request.span === undefined ? {} : { span: request.span }),
      usage: meter.usage,
    });
    const durationMs = Date.now() - started;
    const usage = meter.finish();
    if (node.step.cache !== false) {
      const entry: ActionEntry = {
        format: 'flywheel.action/v1',
        key,
        step: node.step.id,
        createdAt: new Date().toISOString(),
        durationMs,
        runId: request.runId,
        outputs,
        components: request.components,
        ...(node.code === undefined ? {} : { code: node.code }),
        ...(declined === undefined ? {} : { declined }),
        usage: addUsage(request.spentBefore, usage) ?? usage,
      };
      // A holder paused past its lease (SIGSTOP, a frozen VM) finds the key taken over: the new holder's
      // result is, or will be, the entry, and a late write would replace it under whoever read it since.
      if (await claimed.lease.held()) await storeEntry(store, node, entry, request);
      else
        request.log.warn(
          { cacheKey: key },
          "the claim on this key was taken over while this execution ran (paused or cut off longer than a lease lasts): its result is not stored over the new holder's",
        );
    }
    endLine('info', { durationMs, attempts: request.attempt, ...(declined === undefined ? {} : { declined }) }, 'step executed');
    if (request.captureLogs === 'failures') capture?.discard();
    return { kind: 'executed', outputs, durationMs, usage, ...(await logs()), ...(declined === undefined ? {} : { declined }) };
  } catch (error) {
    const { code, message, retryable, fix, infrastructure } = classifyError(error);
    const classified = { code, message, retryable, ...(fix === undefined ? {} : { fix }), ...(infrastructure === undefined ? {} : { infrastructure }) };
    // The same decision the run core makes: an attempt it will try again is not a failure to share.
    const final = signal.aborted || retryDelay(node.retry, request.attempt, classified, node.id) === undefined;
    // A cancelled execution is not a failure either: whoever waited executes the key itself.
    if (!signal.aborted && final) failure = { code, message, ...(node.code === undefined ? {} : { codeDigest: node.code.digest }) };
    if (capture !== undefined) {
      const fields = { code, attempts: request.attempt, ...(fix === undefined ? {} : { fix }) };
      const err = { ...fields, err: message, ...(stackOf(error) === undefined ? {} : { stack: stackOf(error) }) };
      if (final) endLine('error', err, 'step failed');
      else endLine('warn', { attempt: request.attempt, err: error }, 'attempt failed; retrying');
    }
    return {
      kind: 'failed',
      error: classified,
      shared: false,
      final,
      usage: meter.finish(),
      ...(await logs()),
      ...(checkpoint === undefined ? {} : { resume: checkpoint }),
    };
  } finally {
    // A lease that cannot be given up expires; it must not turn a stored result into a failure.
    await claimed.lease.release(failure).catch((error: unknown) => request.log.warn({ err: error }, 'could not release the claim on the key; it expires'));
  }
}

/** An unexpected error's stack, for the step's log (a FlywheelError's message says enough). */
function stackOf(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.stack === undefined || (error as { code?: unknown }).code !== undefined) return undefined;
  return error.stack;
}

/**
 * Waits for whoever holds the key to give it up, without executing: its result, its failure, or `free`
 * (then the caller executes, on the queue the step needs). Temporal's shared execution waits this way
 * on a cpu worker, so a GPU slot is never spent waiting.
 */
export async function awaitKey(
  request: Pick<ExecuteOnceRequest, 'node' | 'key' | 'store' | 'env' | 'signal' | 'waitedFor' | 'onWait' | 'lookAgain'>,
): Promise<Exclude<ExecuteOutcome, { kind: 'executed' | 'contended' }> | { kind: 'free' }> {
  const claimed = await claimAndLookAgain({ ...request, wait: true });
  if (claimed.kind === 'contended') throw new Error('internal: a waiting claim came back held');
  if (claimed.kind !== 'claimed') return claimed;
  await claimed.lease.release();
  return { kind: 'free' };
}

/**
 * Writes an action-cache entry in place of any entry already under its key, signed when the run has a
 * signing key. Whoever writes holds the key's claim (or, for a whole map, has just assembled it), so an
 * entry found there is older: other code's result, one past its maxAge, one a --force replaces, or one
 * no trusted key signed (planted before this run could compute the key). A store where the first
 * writer of a key wins (S3) would otherwise keep the old entry, and every later run would find it
 * again. A result of other code under the same version (another branch's) is not lost: it moves to the
 * key kept for its code, where a run of that code finds it, so two branches sharing a store never evict
 * each other; it moves only if the run trusts it, re-signed for its new key.
 */
export async function putEntry(store: Store, trust: Trust, entry: ActionEntry): Promise<void> {
  const existing = await store.getAction(entry.key);
  const readable = existing !== undefined && existing !== 'unreadable';
  // Only the own store's entry moves (a layer's would name blobs the own store has not), and only one the run trusts.
  const believed = readable && store.layerOf?.(existing) === undefined && (trust.trusted === undefined || (await checkEntry(existing, trust.trusted)).trusted);
  if (believed && existing.code !== undefined && entry.code !== undefined && !sameCode(entry.code, existing.code)) {
    // Another branch's result under the same version: kept under its code, so switching back finds it (see lookUpResult).
    const kept = signed(trust, { ...existing, key: codeVariantKey(entry.key, existing.code.digest), variantOf: entry.key });
    await replaceEntry(store, kept, await store.getAction(kept.key));
  }
  await replaceEntry(store, signed(trust, entry), existing);
}

function signed(trust: Trust, entry: ActionEntry): ActionEntry {
  if (trust.signer === undefined) return entry;
  const made = signEntry(entry, trust.signer);
  // Runs after this one on this machine find the signature verified already.
  if (trust.trusted !== undefined) rememberSignature(made, verifiedSignatures());
  return made;
}

async function replaceEntry(store: Store, entry: ActionEntry, existing: ActionEntry | 'unreadable' | undefined): Promise<void> {
  if (existing !== undefined && (existing === 'unreadable' || existing.runId !== entry.runId || existing.createdAt !== entry.createdAt))
    await store.deleteAction(entry.key);
  await store.putAction(entry);
}

/**
 * Writes the action-cache entry (last, after every blob). A `convergent` step (one that changes the
 * outside state its key reads, like deploy writing the registry) also gets the entry under the key of
 * the state it left, so the next run that finds that state unchanged is a hit instead of a redundant re-run.
 */
async function storeEntry(
  store: Store,
  node: ResolvedNode,
  entry: ActionEntry,
  request: Pick<ExecuteOnceRequest, 'upstream' | 'env' | 'given'>,
): Promise<void> {
  const trust = trustFromEnv(request.env);
  await putEntry(store, trust, entry);
  // A map element has a key of its own: the node's key after the fact is the whole map's, not the element's.
  if (node.step.convergent !== true || request.given !== undefined) return;
  const after = await keyOf(node, request.upstream, request.env);
  if (after.key === entry.key) return;
  const second = { ...entry, key: after.key, components: after.components };
  await putEntry(store, trust, second);
}
