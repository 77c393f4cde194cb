import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lineage } from '../define/define-step.js';
import type { Logger } from 'pino';
import { canonicalJson, NotCanonicalError } from '../../cache/canonical.js';
import { ingestDirectory, materializeDirectory } from '../../cache/manifest.js';
import { asDigest, type CacheKey } from '../../cache/digest.js';
import type { OutputRecord } from '../../cache/records.js';
import { BlobUnavailableError, type Store } from '../../cache/store.js';
import type { CheckpointStore, Progress, StepUsage } from '../define/define-step.js';
import { classifyError, zodIssues } from '../../cache/errors.js';
import { spansUnder, tracer, type TraceSpan } from '../tracing/tracing.js';
import { FlywheelError } from '../errors.js';
import type { FilePort, Port, Ports } from '../define/ports.js';
import type { ResolvedInput, ResolvedNode } from '../validate/validate.js';
import type { GivenInput } from '../map/collection.js';
import { StepScratch } from './step-scratch.js';

export interface ExecuteOptions {
  store: Store;
  /** The run executing the step (`ctx.runId`). */
  runId: string;
  log: Logger;
  signal: AbortSignal;
  /** Outputs of the node's upstream steps, by node id. */
  upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined;
  /** Cache keys of the upstream steps, so a result found broken while reading it can be removed. */
  upstreamKey: (nodeId: string) => CacheKey | undefined;
  onProgress?: (progress: Progress) => void;
  /** Checkpoint left by an earlier attempt (on Temporal also by a worker that was lost): `ctx.resume`. */
  resume?: unknown;
  /** This attempt's number (`ctx.attempt`), as the run core counts them. Default 1. */
  attempt?: number;
  /** Inputs given directly rather than read from upstream outputs: a map element's item or batch (a value) or file (a stored file). */
  given?: Readonly<Record<string, GivenInput>>;
  /** A batch's size: each JSON output must be an array of one result per item, or the collection would misalign. */
  batchLength?: number;
  /** The step's upstream in this run (`ctx.lineage`), for a step that asked for it. */
  lineage?: Lineage;
  /** The execution's span in the run's trace: the parent of this attempt's spans (none: untraced). */
  span?: TraceSpan;
  /** Where `ctx.usage` reports go (none: they are dropped, as in a test run of one step). */
  usage?: StepUsage;
}

const IGNORED_USAGE: StepUsage = { tokens: () => undefined, gpu: () => undefined, count: () => undefined };

function fileNameOf(name: string, port: Port): string {
  return (port as FilePort).fileName ?? name;
}

/**
 * A blob too large to re-hash on every hit turned out damaged when read. The producer's result is
 * removed, so the next run recomputes it instead of failing the same way forever.
 */
async function discardBrokenInput(error: BlobUnavailableError, name: string, source: ResolvedInput, options: ExecuteOptions): Promise<never> {
  if (error.state === 'corrupt') await options.store.deleteBlob(error.digest);
  const key = options.upstreamKey(source.node);
  if (key !== undefined) await options.store.deleteAction(key);
  throw new FlywheelError('INPUT_UNAVAILABLE', `input ${name} (${source.node}.${source.output}) is ${error.state} in the store: ${error.message}`, {
    fix: `run again: the broken result of ${source.node} was removed and will be recomputed`,
  });
}

/** Puts each input where the step can read it: files and directories copied out of the store (verified), JSON parsed. */
/** The stored size of the inputs a step reads (what materializing them moves at most; a directory's is its manifest's). */
function bytesIn(node: ResolvedNode, options: ExecuteOptions): number {
  return Object.entries(node.inputs).reduce((sum, [name, source]) => {
    if (source === null || source === undefined) return sum;
    const given = options.given?.[name];
    const record = given === undefined ? options.upstreamOutputs(source.node)?.[source.output] : given.kind === 'record' ? given.record : undefined;
    return sum + (record?.size ?? 0);
  }, 0);
}

async function prepareInputs(node: ResolvedNode, scratch: StepScratch, options: ExecuteOptions): Promise<Record<string, unknown>> {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(node.step.inputs as Ports)) {
    const source = node.inputs[name];
    try {
      values[name] = source === null || source === undefined ? undefined : await prepareInput(node, name, source, scratch, options);
    } catch (error) {
      if (error instanceof BlobUnavailableError && source) await discardBrokenInput(error, name, source, options);
      throw error;
    }
  }
  return values;
}

async function prepareInput(node: ResolvedNode, name: string, source: ResolvedInput, scratch: StepScratch, options: ExecuteOptions): Promise<unknown> {
  const port = (node.step.inputs as Ports)[name] as Port;
  const given = options.given?.[name];
  const record = given === undefined ? options.upstreamOutputs(source.node)?.[source.output] : given.kind === 'record' ? given.record : undefined;
  if (record === undefined && given?.kind !== 'value') throw new Error(`internal: output ${source.node}.${source.output} is not available`);
  if (port.kind === 'json') {
    const raw =
      given?.kind === 'value' ? given.value : (JSON.parse((await options.store.readBytes((record as OutputRecord).digest)).toString('utf8')) as unknown);
    const parsed = port.schema.safeParse(raw);
    if (!parsed.success) {
      const what = given === undefined ? `from ${source.node}.${source.output}` : `(an element of ${source.node}.${source.output})`;
      throw new FlywheelError('INPUT_INVALID', `input ${name} ${what} does not match its schema: ${zodIssues(parsed.error, name)}`, {
        fix: given === undefined ? 'make the two ports declare compatible schemas' : "make every element of the collection match the input's schema",
      });
    }
    return parsed.data;
  }
  if (record === undefined) throw new Error(`internal: input ${name} of ${node.id} has no stored record`);
  const dir = scratch.dir('in');
  if (port.kind === 'dir') {
    const target = join(dir, name);
    await materializeDirectory(options.store, record.digest, target);
    return target;
  }
  await mkdir(join(dir, name), { recursive: true });
  const target = join(dir, name, record.fileName ?? name);
  await options.store.copyBlobTo(record.digest, target);
  return target;
}

async function prepareOutputs(node: ResolvedNode, scratch: StepScratch): Promise<Record<string, string>> {
  const paths: Record<string, string> = {};
  for (const [name, port] of Object.entries(node.step.outputs as Ports)) {
    if (port.kind === 'json') continue;
    const dir = scratch.dir('out');
    await mkdir(join(dir, name), { recursive: true });
    paths[name] = port.kind === 'dir' ? join(dir, name) : join(dir, name, fileNameOf(name, port));
  }
  return paths;
}

/** Validates what `run` produced and moves it into the store. Nothing is stored unless every output is good. */
async function collectOutputs(
  node: ResolvedNode,
  paths: Record<string, string>,
  returned: unknown,
  store: Store,
  batchLength: number | undefined,
): Promise<Record<string, OutputRecord>> {
  const ports = Object.entries(node.step.outputs as Ports);
  const values = (returned ?? {}) as Record<string, unknown>;
  const jsonBytes = new Map<string, Buffer>();
  for (const [name, port] of ports) {
    if (port.kind === 'json') {
      const parsed = port.schema.safeParse(values[name]);
      if (!parsed.success) {
        throw new FlywheelError('STEP_OUTPUT_INVALID', `run() returned an invalid value for JSON output ${name}: ${zodIssues(parsed.error, name)}`, {
          fix: `return { ${name}: ... } matching the output schema`,
        });
      }
      if (batchLength !== undefined && !(Array.isArray(parsed.data) && parsed.data.length === batchLength)) {
        const got = Array.isArray(parsed.data) ? `an array of ${parsed.data.length}` : `a ${typeof parsed.data}`;
        throw new FlywheelError('STEP_OUTPUT_INVALID', `run() returned ${got} for JSON output ${name} of a batch of ${batchLength}`, {
          fix: `return { ${name}: [...] } with one result per item of the batch, in order`,
          retryable: false,
        });
      }
      try {
        jsonBytes.set(name, Buffer.from(canonicalJson(parsed.data, name)));
      } catch (error) {
        if (!(error instanceof NotCanonicalError)) throw error;
        throw new FlywheelError('STEP_OUTPUT_INVALID', `run() returned JSON output ${name} that JSON cannot hold exactly: ${error.message}`, {
          fix: 'return plain data (objects, arrays, strings, finite numbers, booleans, null)',
        });
      }
    } else {
      const path = paths[name] as string;
      const info = await stat(path).catch(() => undefined);
      if (info === undefined || (port.kind === 'dir' ? !info.isDirectory() : !info.isFile())) {
        throw new FlywheelError('STEP_OUTPUT_MISSING', `run() finished without writing ${port.kind} output ${name} to ${path}`, {
          fix: `write the ${port.kind} to ctx.outputs.${name}`,
        });
      }
    }
  }
  const records: Record<string, OutputRecord> = {};
  for (const [name, port] of ports) {
    if (port.kind === 'json') {
      const stored = await store.putBytes(jsonBytes.get(name) as Buffer);
      records[name] = { kind: 'json', ...stored };
    } else if (port.kind === 'dir') {
      records[name] = { kind: 'dir', ...(await ingestDirectory(store, paths[name] as string, { move: true })) };
    } else {
      records[name] = { kind: 'file', ...(await store.putFile(paths[name] as string, { move: true })), fileName: fileNameOf(name, port) };
    }
  }
  return records;
}

/** Why an aborted step ended: its own timeout, or a cancellation from outside (the run's, the worker's). */
function abortError(signal: AbortSignal, node: ResolvedNode): FlywheelError {
  const timedOut = (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError';
  return timedOut
    ? new FlywheelError('STEP_TIMEOUT', `step ${node.id} exceeded its timeout ${node.resources.timeout ?? ''}`, {
        fix: 'raise resources.timeout or make the step faster',
      })
    : new FlywheelError('STEP_CANCELLED', `step ${node.id} was cancelled`);
}

/**
 * Settles when `run` does, or rejects as soon as the signal fires: a step that ignores its signal cannot
 * hold the run. The work's own rejection is always handled, even after the signal won: left unhandled, it
 * would end the whole process (a worker, with every other step it runs).
 */
function untilAborted<T>(work: T | Promise<T>, signal: AbortSignal, node: ResolvedNode): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, node));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    Promise.resolve(work).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

function checkpointsIn(store: Store): CheckpointStore {
  return {
    save: async (dir) => (await ingestDirectory(store, dir)).digest,
    restore: (digest, destination) => materializeDirectory(store, asDigest(digest), destination),
  };
}

/** The most of a declined step's reason a record keeps: a line a terminal and a DAG node can show. */
export const DECLINED_REASON_MAX = 300;

/**
 * What a record keeps of `ctx.decline(reason)`: its first line that says something, trimmed, at most
 * DECLINED_REASON_MAX characters (longer is cut with `…`); a reason of blanks still declines.
 */
export function declinedReason(reason: unknown): string {
  const line = String(reason)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (line === undefined) return 'no reason given';
  return line.length > DECLINED_REASON_MAX ? `${line.slice(0, DECLINED_REASON_MAX - 1)}…` : line;
}

/** What one attempt produced: its stored outputs, and the reason it declined to act (`ctx.decline`), if it did. */
export interface StepExecution {
  outputs: Record<string, OutputRecord>;
  declined?: string;
}

/**
 * Executes one attempt of a step in a private scratch directory: inputs materialized and verified, `run`
 * called, outputs validated and stored. The scratch directory is always removed. Whether a failure is
 * tried again is the run core's decision (the step's retry policy), for every executor alike.
 */
export async function executeStep(node: ResolvedNode, options: ExecuteOptions): Promise<StepExecution> {
  const scratch = new StepScratch(options.store, node.id);
  let declined: string | undefined;
  // A map element's decision is not recorded: the map's record speaks for its elements (see StepContext.decline).
  const decline = options.given === undefined ? (reason: string) => void (declined = declinedReason(reason)) : () => undefined;
  try {
    const traced = tracer().enabled; // the attributes are worked out only for a trace
    const under = options.span === undefined ? {} : { parent: options.span };
    const materializing = tracer().startSpan('materialize inputs', {
      ...under,
      ...(traced ? { attributes: { 'flywheel.inputs': Object.keys(node.inputs).length, 'flywheel.bytes.read': bytesIn(node, options) } } : {}),
    });
    const [inputs, outputs] = await Promise.all([prepareInputs(node, scratch, options), prepareOutputs(node, scratch)]).finally(() => materializing.end());
    const signals = [options.signal];
    if (node.timeoutMs !== undefined) signals.push(AbortSignal.timeout(node.timeoutMs));
    const signal = AbortSignal.any(signals);
    // Cancelled before it began (a chunk's attempt taken back while its elements waited): the step never starts.
    if (signal.aborted) throw abortError(signal, node);
    const working = tracer().startSpan('step work', { ...under, attributes: { 'flywheel.step': node.step.id } });
    const returned = await untilAborted(
      node.step.run({
        config: node.config,
        inputs,
        outputs,
        get workDir() {
          return scratch.dir('work');
        },
        log: options.log,
        progress: (p: Progress) => options.onProgress?.(p),
        decline,
        signal,
        attempt: options.attempt ?? 1,
        resume: options.resume,
        runId: options.runId,
        lineage: options.lineage,
        checkpoints: checkpointsIn(options.store),
        span: spansUnder(traced ? working : undefined),
        usage: options.usage ?? IGNORED_USAGE,
      } as never),
      signal,
      node,
    ).then(
      (value) => {
        working.end();
        return value;
      },
      (error: unknown) => {
        working.fail(classifyError(error));
        working.end();
        throw error;
      },
    );
    const storing = tracer().startSpan('store outputs', under);
    const stored = await collectOutputs(node, outputs, returned, options.store, options.batchLength).catch((error: unknown) => {
      storing.end();
      throw error;
    });
    if (traced)
      storing.setAttributes({
        'flywheel.bytes.written': Object.values(stored).reduce((sum, o) => sum + o.size, 0),
        'flywheel.outputs': Object.keys(stored).length,
      });
    storing.end();
    return declined === undefined ? { outputs: stored } : { outputs: stored, declined };
  } finally {
    await scratch.remove();
  }
}
