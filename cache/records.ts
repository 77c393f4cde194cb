import { z } from 'zod';
import { isSha256Hex, type CacheKey, type Digest } from './digest.js';

// Schemas for everything the store persists. Records are parsed on read: a truncated or foreign
// file is a miss or a reported problem, never data the engine trusts blindly.

const DigestSchema = z
  .string()
  .refine(isSha256Hex, 'expected a SHA-256 hex digest')
  .transform((s) => s as Digest);
const CacheKeySchema = z
  .string()
  .refine(isSha256Hex, 'expected a SHA-256 hex cache key')
  .transform((s) => s as CacheKey);

/** One stored output of a step: what kind it is and the digest of its bytes (a manifest for directories). */
export const OutputRecord = z.object({
  kind: z.enum(['file', 'dir', 'json']),
  digest: DigestSchema,
  size: z.number().int().nonnegative(),
  /** File name the producing step used; downstream steps see the input under this name. */
  fileName: z.string().optional(),
});
export type OutputRecord = z.infer<typeof OutputRecord>;

export const InputComponentSchema = z.object({ from: z.string(), digest: DigestSchema, fileName: z.string().optional() });

export const KeyComponentsSchema = z.object({
  step: z.string(),
  version: z.string(),
  ports: z.object({ inputs: z.record(z.string(), z.string()), outputs: z.record(z.string(), z.string()) }),
  config: z.unknown(),
  inputs: z.record(z.string(), InputComponentSchema.nullable()),
  env: z.record(z.string(), z.string().nullable()),
  external: z.unknown().optional(),
  map: z.object({ over: z.string(), batchSize: z.number().int().positive() }).optional(),
});

/**
 * A digest of the code that produced a result: the module defining the step and the local modules it
 * imports, each normalised (see engine/code/code-fingerprint.ts). Not part of the key: it only tells a hit
 * whether it was computed by other code than the current one. Digests compare only within one `scheme`.
 */
export const CodeFingerprint = z.object({
  scheme: z.string(),
  digest: DigestSchema,
  /** Project-relative path → digest of that module's normalised code. */
  files: z.record(z.string(), z.string()),
});
export type CodeFingerprint = z.infer<typeof CodeFingerprint>;

/**
 * What producing a result consumed (one execution, or the sum of several): wall and CPU time always; GPU-seconds,
 * LLM tokens and a step's own counts where it reported them (`ctx.usage`). Facts only: money is worked out
 * from them with a price table (see PriceTable), which can change without the record changing.
 */
export const Usage = z.object({
  /** Wall time of the executions, summed. */
  wallMs: z.number().nonnegative(),
  /** CPU time (user + system): this process's share while the executions ran, and their child processes'. */
  cpuMs: z.number().nonnegative(),
  /** GPU type as the device names it (`NVIDIA H200`) → GPU-seconds, summed over the GPUs used. */
  gpuSeconds: z.record(z.string(), z.number().nonnegative()).optional(),
  /** Model → LLM tokens in and out and the calls made; `offline`: an offline stand-in answered, so its zero tokens are no real call's. */
  tokens: z
    .record(
      z.string(),
      z.object({
        input: z.number().int().nonnegative(),
        output: z.number().int().nonnegative(),
        calls: z.number().int().nonnegative(),
        offline: z.literal(true).optional(),
      }),
    )
    .optional(),
  /** A step's own counts (`ctx.usage.count`), by name: requests made, pages crawled, … */
  counts: z.record(z.string(), z.number().nonnegative()).optional(),
});
export type Usage = z.infer<typeof Usage>;

/**
 * Prices that turn usage into money (FLYWHEEL_PRICES, or flywheel.prices.json where the run starts). Each
 * price is optional: what has none is reported as a resource, not money, and named as unpriced.
 */
export const PriceTable = z
  .object({
    /** Printed after every amount. Default `USD`. */
    currency: z.string().min(1).max(8).default('USD'),
    /** Per CPU-hour of step CPU time. */
    cpuHour: z.number().nonnegative().optional(),
    /** Per GPU-hour, by GPU type: a name the device's contains, ignoring case (`H200` prices `NVIDIA H200`); the longest match wins. */
    gpuHour: z.record(z.string().min(1), z.number().nonnegative()).optional(),
    /** Per million tokens in and out, by model (exact name); `*` prices every model not named. */
    tokensPerMillion: z.record(z.string().min(1), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }).strict()).optional(),
    /** Per unit of a step's own count (`ctx.usage.count`), by its name. */
    counts: z.record(z.string().min(1), z.number().nonnegative()).optional(),
  })
  .strict();
export type PriceTable = z.infer<typeof PriceTable>;

/** Action-cache entry: key → outputs. Written only after every blob it names is stored. */
export const ActionEntry = z.object({
  format: z.literal('flywheel.action/v1'),
  key: CacheKeySchema,
  step: z.string(),
  createdAt: z.string(),
  durationMs: z.number().nonnegative(),
  runId: z.string(),
  outputs: z.record(z.string(), OutputRecord),
  components: KeyComponentsSchema,
  /** Absent in entries written before code fingerprints, or for steps whose code is not a local module. */
  code: CodeFingerprint.optional(),
  /** A whole map's entry: how many elements it holds and the blob listing each one's key (see ElementCounts). */
  elements: z.object({ total: z.number().int().nonnegative(), keys: DigestSchema }).optional(),
  /** Set on the copy kept per code fingerprint (under `codeVariantKey`): the key it is a result for, which `cache gc` keeps it with. */
  variantOf: CacheKeySchema.optional(),
  /**
   * The step ran and decided not to act (`ctx.decline`: a gate kept a candidate out, a refusal): the first line
   * of its reason. Part of the result, so a cache hit is declined too; signed with the rest of the entry.
   */
  declined: z.string().optional(),
  /** What producing the result consumed, failed attempts included: what a hit saves. Absent in entries written before usage was recorded. */
  usage: Usage.optional(),
  /** The writer's Ed25519 signature over the rest of the entry and its own id (see cache/entry-signature.ts); absent when unsigned. */
  signature: z.object({ signer: z.string(), value: z.string() }).optional(),
});
export type ActionEntry = z.infer<typeof ActionEntry>;

export const StepStatus = z.enum(['executed', 'cached', 'failed', 'skipped', 'running', 'pending']);
export type StepStatus = z.infer<typeof StepStatus>;

export const ReasonCode = z.enum([
  'cache-hit',
  'first-run',
  'new-step',
  'config-changed',
  'version-changed',
  'interface-changed',
  'upstream-changed',
  'env-changed',
  'external-changed',
  'entry-missing',
  'blob-missing',
  'blob-corrupt',
  'forced',
  'expired',
  'cache-disabled',
  'upstream-pending',
  'upstream-failed',
  'shared-execution',
  'previous-failed',
  'cancelled',
  'code-changed',
  /** An entry the run's trusted keys did not sign (unsigned, another signer, or altered): never served. */
  'untrusted-entry',
]);
export type ReasonCode = z.infer<typeof ReasonCode>;

/** Elements of a map that share one reason, e.g. 19 of 20 elements: code changed since this result (ranges in `indices`). */
export const ElementReason = z.object({
  codes: z.array(ReasonCode),
  reason: z.string(),
  count: z.number().int().nonnegative(),
  indices: z.string(),
});
export type ElementReason = z.infer<typeof ElementReason>;

/**
 * Element reasons that say no more than which elements: short words after the ranges in the map's own
 * sentence (`elements 3, 7 changed`). Views list only the reasons of the elements' own (code changed, …).
 */
export const WHICH_ELEMENTS: ReadonlySet<string> = new Set(['changed', 'added', 'failed last time']);

/**
 * What a map step (`p.map`) did with its elements. Counts are of elements: one item each, or a batch of
 * `batchSize` items. Index lists are compact ranges (`0-9,4812`).
 */
export const ElementCounts = z.object({
  total: z.number().int().nonnegative(),
  executed: z.number().int().nonnegative(),
  cached: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  batchSize: z.number().int().positive().optional(),
  /** Which elements this run executed. */
  executedIndices: z.string().optional(),
  /** The failed elements with their errors (the first 100; `failed` counts them all). */
  failures: z
    .array(
      z.object({
        index: z.number().int().nonnegative(),
        code: z.string(),
        message: z.string(),
        logs: DigestSchema.optional(),
        /** Attempts it made, when more than one. */
        attempts: z.number().int().positive().optional(),
      }),
    )
    .optional(),
  /** Elements the stored collection leaves out (they failed, under minSuccessRatio). */
  leftOut: z.string().optional(),
  /** The blob listing every element's cache key in order: what `cache gc` keeps alive with the run. */
  keys: DigestSchema.optional(),
  /** Why the elements that ran had to, grouped by reason (code changed, input changed, failed last time, ...). */
  reasons: z.array(ElementReason).optional(),
  /** Elements whose cached result of other code was kept (onCodeChange: 'warn'): counted in the step's warning. */
  kept: ElementReason.optional(),
  /** Elements that took more than one attempt: attempts → their indices as ranges, e.g. { "2": "3,7" }. */
  retried: z.record(z.string(), z.string()).optional(),
});
export type ElementCounts = z.infer<typeof ElementCounts>;

export const StepRunRecord = z.object({
  id: z.string(),
  step: z.string(),
  status: StepStatus,
  cacheKey: CacheKeySchema.optional(),
  reasonCodes: z.array(ReasonCode),
  reason: z.string(),
  components: KeyComponentsSchema.optional(),
  outputs: z.record(z.string(), OutputRecord),
  startedAt: z.string().optional(),
  durationMs: z.number().nonnegative().optional(),
  /** For cached steps: how long the original execution took (compute time saved). */
  savedMs: z.number().nonnegative().optional(),
  attempts: z.number().int().nonnegative().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** Something the user should know about a result that was still used, e.g. a cached result of other code (onCodeChange: 'warn'). */
  warning: z.string().optional(),
  /**
   * The step ran and decided not to act (`ctx.decline`): the first line of its reason. Orthogonal to the
   * status: `executed` or `cached` (the decision is kept with the result, so a hit repeats it).
   */
  declined: z.string().optional(),
  /** A map step's elements. */
  elements: ElementCounts.optional(),
  /** What this run's executions of the step consumed, failed attempts included (a map's: its elements' executions). */
  spent: Usage.optional(),
  /** What the results it reused had cost when they were computed (a cached step, a map's cached elements). */
  saved: Usage.optional(),
  /** The nodes this one reads from: the run's DAG, for views that draw it. */
  upstream: z.array(z.string()).optional(),
  /** For a cached step: the run whose execution produced the result it reused. */
  computedBy: z.string().optional(),
  /** For a cached step found in a read-only layer (FLYWHEEL_READ_FROM): that store; absent for the run's own. */
  layer: z.string().optional(),
  /**
   * An executed or failed step's log: a blob of text lines, one per entry (engine/execute/step-logs.ts has the
   * format), stored when its execution ended. A cached step has none: its producing run's record does.
   */
  logs: DigestSchema.optional(),
});
export type StepRunRecord = z.infer<typeof StepRunRecord>;

/** The steps of a run that decided not to act (`ctx.decline`), by node id, in the record's order. */
export function declinedSteps(steps: readonly Pick<StepRunRecord, 'id' | 'declined'>[]): string[] {
  return steps.filter((s) => s.declined !== undefined).map((s) => s.id);
}

export const RunRecord = z.object({
  format: z.literal('flywheel.run/v1'),
  runId: z.string(),
  pipeline: z.string(),
  /** `cancelled`: stopped on request (Ctrl-C, `flywheel cancel`); what finished before is kept. */
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  durationMs: z.number().nonnegative().optional(),
  host: z.string(),
  pid: z.number().int(),
  /** `temporal` when a Temporal workflow owns the run: its liveness is Temporal's, not a local pid's. */
  engine: z.enum(['local', 'temporal']).optional(),
  /** The pipeline file the run loaded (absolute, on the machine that started it): where `compare` finds the pipeline's extensions. */
  source: z.string().optional(),
  overrides: z.array(z.string()),
  /** Totals over the steps: what the run's executions consumed and what the results it reused had cost. */
  usage: z.object({ spent: Usage, saved: Usage }).optional(),
  /** The price table in effect when the run started, with where it came from: views price this run's usage by it. */
  prices: z.object({ source: z.string(), table: PriceTable }).optional(),
  steps: z.array(StepRunRecord),
});
export type RunRecord = z.infer<typeof RunRecord>;
export type RunStatus = RunRecord['status'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringRecord = (v: unknown, nullable: boolean): boolean =>
  isObject(v) && Object.values(v).every((x) => typeof x === 'string' || (nullable && x === null));
const isHex = (v: unknown): v is string => typeof v === 'string' && isSha256Hex(v);

function isOutputRecord(v: unknown): boolean {
  return (
    isObject(v) &&
    (v.kind === 'file' || v.kind === 'dir' || v.kind === 'json') &&
    isHex(v.digest) &&
    Number.isInteger(v.size) &&
    (v.size as number) >= 0 &&
    (v.fileName === undefined || typeof v.fileName === 'string')
  );
}

function isCodeFingerprint(v: unknown): boolean {
  return isObject(v) && typeof v.scheme === 'string' && isHex(v.digest) && isStringRecord(v.files, false);
}

const isAmount = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isAmounts = (v: unknown): boolean => v === undefined || (isObject(v) && Object.values(v).every(isAmount));

function isTokens(v: unknown): boolean {
  return isObject(v) && isCount(v.input) && isCount(v.output) && isCount(v.calls) && (v.offline === undefined || v.offline === true);
}

function isUsage(v: unknown): boolean {
  if (!isObject(v) || !isAmount(v.wallMs) || !isAmount(v.cpuMs) || !isAmounts(v.gpuSeconds) || !isAmounts(v.counts)) return false;
  return v.tokens === undefined || (isObject(v.tokens) && Object.values(v.tokens).every(isTokens));
}

function isKeyComponents(v: unknown): boolean {
  if (!isObject(v) || typeof v.step !== 'string' || typeof v.version !== 'string' || !('config' in v)) return false;
  const { ports, inputs } = v;
  if (!isObject(ports) || !isStringRecord(ports.inputs, false) || !isStringRecord(ports.outputs, false) || !isStringRecord(v.env, true) || !isObject(inputs))
    return false;
  return Object.values(inputs).every(
    (i) => i === null || (isObject(i) && typeof i.from === 'string' && isHex(i.digest) && (i.fileName === undefined || typeof i.fileName === 'string')),
  );
}

/**
 * Accepts exactly what the ActionEntry schema accepts, without building a validated copy: every
 * cache hit parses one entry, and on a cold process zod's parse was a tenth of a fully cached run.
 * A test holds the two in agreement.
 */
export function asActionEntry(value: unknown): ActionEntry | undefined {
  if (!isObject(value) || value.format !== 'flywheel.action/v1' || !isHex(value.key) || typeof value.step !== 'string') return undefined;
  if (typeof value.createdAt !== 'string' || typeof value.runId !== 'string' || typeof value.durationMs !== 'number' || value.durationMs < 0) return undefined;
  if (!isObject(value.outputs) || !Object.values(value.outputs).every(isOutputRecord) || !isKeyComponents(value.components)) return undefined;
  if (value.code !== undefined && !isCodeFingerprint(value.code)) return undefined;
  if (value.elements !== undefined && !(isObject(value.elements) && Number.isInteger(value.elements.total) && isHex(value.elements.keys))) return undefined;
  if (value.variantOf !== undefined && !isHex(value.variantOf)) return undefined;
  if (value.declined !== undefined && typeof value.declined !== 'string') return undefined;
  if (value.usage !== undefined && !isUsage(value.usage)) return undefined;
  if (value.signature !== undefined && !(isObject(value.signature) && typeof value.signature.signer === 'string' && typeof value.signature.value === 'string'))
    return undefined;
  return value as ActionEntry;
}

const STEP_STATUSES = new Set<StepStatus>(StepStatus.options);

/** A step's identity, status and outputs are there: enough to show it; reasons and keys only explain. */
function isStepRecord(value: unknown): value is StepRunRecord {
  return isObject(value) && typeof value.id === 'string' && STEP_STATUSES.has(value.status as StepStatus) && isObject(value.outputs);
}

/**
 * Reads a run record without building a validated copy of every step: records of large pipelines
 * hold thousands of steps, and every plan reads the last one. The top level and each step's identity
 * and status are checked; a torn or foreign file is rejected. Records only ever explain decisions:
 * cache hits are judged by action-cache entries and blobs, never by a run record.
 */
export function asRunRecord(value: unknown): RunRecord {
  const fail = (what: string): never => {
    throw new Error(`not a run record: ${what}`);
  };
  if (!isObject(value) || value.format !== 'flywheel.run/v1') return fail('format');
  if (typeof value.runId !== 'string' || typeof value.pipeline !== 'string' || typeof value.startedAt !== 'string') return fail('runId, pipeline or startedAt');
  if (!['running', 'succeeded', 'failed', 'cancelled'].includes(value.status as string) || !Array.isArray(value.steps)) return fail('status or steps');
  if (!(value.steps as unknown[]).every(isStepRecord)) return fail('a step');
  return value as RunRecord;
}

/** An entry file's text as the entry stored under `key`, or 'unreadable' (torn, foreign, or filed under another key). */
export function parseActionEntry(text: string, key: string): ActionEntry | 'unreadable' {
  let entry: ActionEntry | undefined;
  try {
    entry = asActionEntry(JSON.parse(text));
  } catch {
    return 'unreadable';
  }
  return entry?.key === key ? entry : 'unreadable';
}

/**
 * A running run's record with the steps its journal says finished since (one JSON record per line,
 * the last word for a step wins; a line torn by a crash is skipped).
 */
export function withJournal(record: RunRecord, journal: string): RunRecord {
  if (journal === '') return record;
  const finished = new Map<string, StepRunRecord>();
  for (const line of journal.split('\n')) {
    if (line === '') continue;
    try {
      const step: unknown = JSON.parse(line);
      if (isStepRecord(step)) finished.set(step.id, step);
    } catch {
      // torn by a crash mid-write
    }
  }
  return finished.size === 0 ? record : { ...record, steps: record.steps.map((s) => finished.get(s.id) ?? s) };
}
