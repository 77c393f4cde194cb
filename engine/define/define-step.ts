import { z } from 'zod';
import type { Logger } from 'pino';
import type { SpanAttributes } from '../tracing/tracing.js';
import type { CodeFingerprint, PriceTable, Usage } from '../../cache/records.js';
import type { QueueName } from '../core/queues.js';
import type { InputValue, JsonPort, JsonPortNames, PathPortNames, Ports } from './ports.js';

/** Task queues known to the Temporal executor; the local executor runs every queue in-process. */
export type TaskQueue = QueueName;

export interface Resources {
  /** Where the step runs on Temporal. Default `cpu`. */
  queue?: TaskQueue;
  /** Longest a single attempt may take, as an ISO-8601 duration (`PT30M`). Default: no limit. */
  timeout?: string;
  /**
   * Extra attempts after a failure a retry could help with (a thrown Error, a timeout, a child process that
   * exited non-zero; not bad input or invalid output). Default 0. A map tries each element this way.
   */
  retries?: number;
  /** The wait before the first retry (ISO-8601, default `PT0.25S`); each later one doubles, up to 30 s (or this wait, if longer). */
  retryDelay?: string;
  /** Retry exactly these error codes (e.g. `['STEP_TIMEOUT', 'RATE_LIMITED']`) instead of every failure classified retryable. */
  retryOn?: readonly string[];
  /**
   * On Temporal, how long the step may go without a heartbeat before its worker counts as lost and the
   * step is retried elsewhere (ISO-8601, e.g. `PT5M`). Default: the run's (FLYWHEEL_HEARTBEAT_TIMEOUT).
   */
  heartbeatTimeout?: string;
}

/** Reported through `ctx.progress`: shown live by the CLI and, on Temporal, carried in heartbeats. */
export interface Progress {
  /** 0..1 when known. */
  fraction?: number;
  message?: string;
  /** Free-form resume state (e.g. a checkpoint path) for the next attempt. */
  details?: unknown;
}

/**
 * Folders saved to the artifact store during a run, such as training checkpoints, so that a retry on
 * another worker can bring them back. They are not outputs: nothing keeps them after the run.
 */
export interface CheckpointStore {
  /** Stores every file of `dir` (content-addressed); returns the digest to put in `progress` details. */
  save(dir: string): Promise<string>;
  /** Writes a folder saved by `save` (verified against its digest) to `destination`. */
  restore(digest: string, destination: string): Promise<void>;
}

/** Everything `run` receives. Paths are private to this execution; write outputs only to `outputs`. */
export interface StepContext<Config, I extends Ports, O extends Ports> {
  /** The step's config, parsed by its schema with defaults applied. */
  config: Config;
  /** Paths for file and directory inputs, parsed values for JSON inputs. */
  inputs: { [K in keyof I]: InputValue<I[K]> };
  /** Where to write each file or directory output (a directory output's folder already exists). */
  outputs: { [K in PathPortNames<O>]: string };
  /** Scratch directory, removed after the step. */
  workDir: string;
  log: Logger;
  progress(progress: Progress): void;
  /**
   * The step ran and decided not to act: a gate kept a candidate out, a refusal. The run records the step
   * as declined (`executed · declined`, and `cached · declined` when a later run reuses the result) with
   * the first line of `reason` (trimmed, at most 300 characters); called again, the last reason counts.
   * The step still returns and writes its outputs as usual: declining is a result, not a failure.
   * In a map element (`p.map`) it does nothing: a map records no decision per element, only whole steps do.
   */
  decline(reason: string): void;
  /**
   * A span of the step's own in the run's trace (OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set;
   * a no-op otherwise), under the step's work: `work` runs inside it, spans it starts nest below, and it
   * ends (marked failed if `work` throws) when `work` does. Add attributes with `span.setAttributes`.
   *
   * @example
   * const answer = await ctx.span('llm call', async (span) => {
   *   const reply = await client.chat.completions.create(request);
   *   span.setAttributes({ 'gen_ai.request.model': request.model, 'gen_ai.usage.input_tokens': reply.usage?.prompt_tokens });
   *   return reply;
   * });
   */
  span<T>(name: string, work: (span: StepSpan) => Promise<T> | T, attributes?: SpanAttributes): Promise<T>;
  /**
   * Reports what the step consumed beyond the wall and CPU time Flywheel measures itself: GPU-seconds,
   * LLM tokens, counts of its own. Kept with the result, so a later cache hit says what it saved, and
   * priced by the price table (FLYWHEEL_PRICES) in the run's summary, `show`, `runs --cost` and the run view.
   *
   * @example
   * const reply = await client.chat.completions.create(request);
   * ctx.usage.tokens(request.model, { input: reply.usage?.prompt_tokens ?? 0, output: reply.usage?.completion_tokens ?? 0 });
   * ctx.usage.gpu('NVIDIA H200', 8 * trainingSeconds); // 8 GPUs
   */
  usage: StepUsage;
  /** Aborted on cancellation or timeout; pass it to child processes and long loops. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /** The run executing the step, for lineage (it is not part of the cache key). */
  runId: string;
  /**
   * For a step that asks for it (`lineage: true`): the run (pipeline, choices, executor, start) and every
   * step upstream of it, each with its key, code fingerprint, config and output digests: what provenance
   * records. Undefined otherwise.
   */
  lineage: Lineage | undefined;
  /**
   * The `details` of the last progress an earlier attempt reported (a checkpoint), or undefined on a
   * fresh start. On Temporal it survives a lost worker: it travels in the step's heartbeats.
   */
  resume: unknown;
  /** Saves checkpoints to the artifact store and restores them, for resuming on another worker. */
  checkpoints: CheckpointStore;
}

/** What a step reports it consumed (see `StepContext.usage`). Amounts must be finite and not negative. */
export interface StepUsage {
  /**
   * LLM tokens of `calls` calls (default 1) to `model`, from the API's usage fields. `offline`: an offline
   * stand-in answered; its zero tokens are reported as such, not as a free model.
   */
  tokens(model: string, tokens: { input: number; output: number; calls?: number; offline?: boolean }): void;
  /** GPU-seconds on GPUs of `type` (as the device names it, e.g. `NVIDIA H200`), summed over the GPUs used. */
  gpu(type: string, seconds: number): void;
  /** An amount of a count of the step's own (requests, pages), priced per unit by the price table's `counts`. */
  count(name: string, amount: number): void;
}

/** A span as a step sees it (see `StepContext.span`). */
export interface StepSpan {
  setAttributes(attributes: SpanAttributes): void;
}

/** What `run` returns: a value for each JSON output, nothing when there is none. */
export type StepResult<O extends Ports> = [JsonPortNames<O>] extends [never] ? void : { [K in JsonPortNames<O>]: O[K] extends JsonPort<infer T> ? T : never };

export interface StepSpec<C extends z.ZodType, I extends Ports, O extends Ports> {
  /** Stable identity of the step's code: part of its cache key. Letters, digits, `-` and `_`, starting with a letter or digit. */
  id: string;
  /** Bump when the code changes its results: invalidates this step's cache entries. */
  version: string | number;
  description?: string;
  /** zod schema of the config; defaults declared here apply when the pipeline leaves a value out. */
  config?: C;
  inputs?: I;
  outputs?: O;
  resources?: Resources;
  /** `false` runs the step every time (outputs are still stored so downstream caching works). */
  cache?: boolean;
  /** Results older than this ISO-8601 duration (`P7D`) are recomputed. */
  maxAge?: string;
  /** Environment variables the result depends on; their values enter the cache key. */
  env?: readonly string[];
  /**
   * State outside Flywheel that the result depends on (a source file's digest, an object's ETag, a
   * registry's state): called before the cache look-up, its value enters the cache key, so the step
   * re-runs exactly when that state changes. Keep it cheap and deterministic.
   */
  external?: (config: z.output<C>, inputDigests: { [K in keyof I]?: string }) => unknown;
  /**
   * The step itself changes the outside state `external` reads (deploy writes the registry it keys on):
   * its result is also cached under the key of the state it leaves, so a run that finds the outside
   * state as this step left it is a hit, and any other change (a promotion by hand) re-runs it.
   */
  convergent?: boolean;
  /**
   * What a cache hit does when the step's code (its module and the local modules it imports) changed
   * since the result was computed, while `version` stayed the same: `rerun` (default) treats it as a
   * miss (`code-changed`); `warn` keeps the cached result and `plan`/`run` warn, suggesting a version
   * bump. Opt into `warn` for very expensive steps. `definePipeline({ onCodeChange })` overrides it.
   */
  onCodeChange?: OnCodeChange;
  /**
   * Files outside its TypeScript modules the step runs or reads as code (a Python trainer, prompt
   * templates), as globs relative to the file that defines the step (`*`, `**`, `?`): their contents join
   * its code fingerprint, so editing one re-runs the step as editing its TypeScript does.
   *
   * @example
   * codeFiles: ['../../trainer/flywheel_trainer/**\/*.py', 'prompts/*.txt']
   */
  codeFiles?: readonly string[];
  /**
   * The step receives `ctx.lineage`: every step upstream of it in the run, with keys, code fingerprints,
   * config and output digests (deploy writes provenance from it). Never part of the key.
   */
  lineage?: boolean;
  run(ctx: StepContext<z.output<C>, I, O>): Promise<StepResult<O>> | StepResult<O>;
}

/** What a step that asked for its lineage receives: the run, and every step upstream of it, nearest first. */
export interface Lineage {
  run: {
    runId: string;
    pipeline: string;
    /** As the command line chose them: `--profile p`, then each `--set`. */
    overrides: string[];
    engine: 'local' | 'temporal' | undefined;
    startedAt: string;
    /** The run's price table, when it has one (FLYWHEEL_PRICES, flywheel.prices.json). */
    prices?: PriceTable;
  };
  steps: LineageStep[];
}

/** One step upstream of a step that asked for its lineage, as the run knows it. */
export interface LineageStep {
  /** Node id in the pipeline. */
  id: string;
  key: string;
  /** Its step, version, config (readable), input digests and env, as in its key; absent after a Temporal run continued as new. */
  components?: {
    step: string;
    version: string;
    config: unknown;
    inputs: Record<string, { from: string; digest: string } | null>;
    env: Record<string, string | null>;
  };
  /** The digest of the code it ran (its fingerprint), when the step is a local module. */
  code?: string;
  /** Output name → digest. */
  outputs: Record<string, string>;
  /** For a cached result: the run that computed it. */
  computedBy?: string;
  /** What producing its result cost (this run's executions, failed attempts included, or as the reused result recorded it). */
  usage?: Usage;
}

/** What a cache hit computed by other code (same version) does: re-run the step, or keep the result and warn. */
export type OnCodeChange = 'warn' | 'rerun';

/** Brand that survives being loaded through two module instances (dist and source). */
export const STEP_BRAND = Symbol.for('flywheel.step');

/**
 * The compiled pipeline bundle keeps, on this global, a stack of the local modules being evaluated
 * (each module pushes its project-relative path first and pops it last; see engine/load/compile-pipeline.ts):
 * the top names the module that defines a step, whose code the step's fingerprint digests.
 */
export const DEFINING_MODULES_KEY = 'flywheel.defining-modules';
export const DEFINING_MODULES = Symbol.for(DEFINING_MODULES_KEY);
/** Where `defineStep` records that module on the definition (absent outside a compiled pipeline). */
export const STEP_MODULE = Symbol.for('flywheel.step-module');
/**
 * Beside the stack, the compiled module records which of its top-level statements is running (by index;
 * see bracketWithModule in engine/load/compile-pipeline.ts): the statement that defines a step, which its
 * fingerprint starts from. Absent once the module has loaded (a step defined while the pipeline builds).
 */
export const DEFINING_STATEMENTS_KEY = 'flywheel.defining-statements';
export const DEFINING_STATEMENTS = Symbol.for(DEFINING_STATEMENTS_KEY);
export const STEP_STATEMENT = Symbol.for('flywheel.step-statement');

/** Where the pipeline loader puts the fingerprint of that module's code (see engine/load/load-pipeline.ts). */
export const STEP_CODE = Symbol.for('flywheel.step-code');

/** The fingerprint of the code defining a step, when it was loaded from a compiled pipeline's local modules. */
export function codeFingerprintOf(step: AnyStep): CodeFingerprint | undefined {
  return (step as unknown as Record<symbol, CodeFingerprint | undefined>)[STEP_CODE];
}

/** The module (and its top-level statement, when known) evaluating now. */
function definingCode(): { module?: string; statement?: number } {
  const stack = (globalThis as Record<symbol, unknown>)[DEFINING_MODULES];
  const module = Array.isArray(stack) && typeof stack[stack.length - 1] === 'string' ? (stack[stack.length - 1] as string) : undefined;
  if (module === undefined) return {};
  const statement = ((globalThis as Record<symbol, unknown>)[DEFINING_STATEMENTS] as Record<string, unknown> | undefined)?.[module];
  return typeof statement === 'number' ? { module, statement } : { module };
}

export interface StepDefinition<C extends z.ZodType = z.ZodType, I extends Ports = Ports, O extends Ports = Ports> extends StepSpec<C, I, O> {
  readonly [STEP_BRAND]: true;
  readonly version: string;
  readonly config: C;
  readonly inputs: I;
  readonly outputs: O;
}

/** Any step, regardless of its config and ports. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = StepDefinition<any, any, any>;

/**
 * Defines a step: a unit of work whose result is cached by its id, version, config and input bytes.
 *
 * @example
 * ```ts
 * import { defineStep, file, json } from 'flywheel';
 * import { z } from 'zod';
 *
 * export const countWords = defineStep({
 *   id: 'count-words',
 *   version: 1,
 *   config: z.object({ minLength: z.number().int().default(3) }),
 *   inputs: { text: file() },
 *   outputs: { counts: json(z.record(z.string(), z.number())) },
 *   async run({ config, inputs }) {
 *     const words = (await readFile(inputs.text, 'utf8')).split(/\W+/).filter((w) => w.length >= config.minLength);
 *     const counts: Record<string, number> = {};
 *     for (const w of words) counts[w] = (counts[w] ?? 0) + 1;
 *     return { counts };
 *   },
 * });
 * ```
 */
export function defineStep<
  C extends z.ZodType = z.ZodObject<Record<string, never>>,
  I extends Ports = Record<string, never>,
  O extends Ports = Record<string, never>,
>(spec: StepSpec<C, I, O>): StepDefinition<C, I, O> {
  const { module, statement } = definingCode();
  return {
    ...spec,
    [STEP_BRAND]: true,
    ...(module === undefined ? {} : { [STEP_MODULE]: module }),
    ...(statement === undefined ? {} : { [STEP_STATEMENT]: statement }),
    version: String(spec.version),
    config: spec.config ?? (z.object({}) as unknown as C),
    inputs: spec.inputs ?? ({} as I),
    outputs: spec.outputs ?? ({} as O),
  };
}

export function isStepDefinition(value: unknown): value is AnyStep {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[STEP_BRAND] === true;
}
