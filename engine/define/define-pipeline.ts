import type { z } from 'zod';
import type { AnyStep, OnCodeChange, Resources, StepDefinition } from './define-step.js';
import type { FilePort, JsonPort, Port, PortKind, Ports } from './ports.js';
import { collectedPorts, type CollectedPort, type MapSpec } from './map-ports.js';
import type { PipelineExtensions } from './pipeline-extensions.js';

const REF_BRAND = Symbol.for('flywheel.output-ref');
const PIPELINE_BRAND = Symbol.for('flywheel.pipeline');

/**
 * A reference to one output of one step in a pipeline. The type parameters let TypeScript reject
 * wiring a directory into a file input, or a JSON value into an input expecting another shape.
 */
export interface OutputRef<K extends PortKind = PortKind, T = unknown> {
  readonly [REF_BRAND]: true;
  readonly node: string;
  readonly output: string;
  /** Known for refs taken from a step handle; unknown (undefined) for `p.ref(...)`. */
  readonly kind: K | undefined;
  /** Phantom: carries the JSON value type for compile-time checks; never set at runtime. */
  readonly __value?: T;
}

export type RefFor<P extends Port> = P extends JsonPort<infer T> ? OutputRef<'json', T> : OutputRef<P['kind']>;

type RequiredInputNames<I extends Ports> = { [K in keyof I]: I[K]['optional'] extends true ? never : K }[keyof I];
type OptionalInputNames<I extends Ports> = { [K in keyof I]: I[K]['optional'] extends true ? K : never }[keyof I];

export type InputWiring<I extends Ports> = { [K in RequiredInputNames<I>]: RefFor<I[K]> } & { [K in OptionalInputNames<I>]?: RefFor<I[K]> };

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

interface BaseNodeOptions<C extends z.ZodType> {
  /** Node id in this pipeline; defaults to the step's id. Needed when one step is used twice. */
  id?: string;
  /** Config for this use of the step; the config file and `--set` override it, the schema fills defaults. */
  config?: DeepPartial<z.input<C>>;
  /**
   * Overrides the step's resources for this use of it (e.g. a shorter heartbeat timeout in a
   * rehearsal pipeline, or another queue). Resources never enter the cache key.
   */
  resources?: Resources;
  /** Results older than this ISO-8601 duration are recomputed, for this use of the step (default: the step's `maxAge`). */
  maxAge?: string;
}

export type NodeOptions<C extends z.ZodType, I extends Ports> = BaseNodeOptions<C> &
  ([RequiredInputNames<I>] extends [never] ? { inputs?: InputWiring<I> } : { inputs: InputWiring<I> });

/** Returned by `p.add`: the node id and typed references to each output. */
export interface StepHandle<O extends Ports> {
  readonly id: string;
  readonly out: { [K in keyof O]: RefFor<O[K]> };
}

/**
 * What a map's `over` input may be wired to. A JSON input takes a JSON array of its type or a JSON Lines
 * file (one element per line); with `batchSize` its type is already an array, and so is the collection.
 * A file input takes a directory (one element per file, in path order).
 */
export type CollectionRef<P extends Port> =
  P extends JsonPort<infer T>
    ? OutputRef<'json', T[]> | OutputRef<'file'> | (T extends readonly unknown[] ? OutputRef<'json', T> : never)
    : P extends FilePort
      ? OutputRef<'dir'>
      : never;

export type MapOptions<C extends z.ZodType, I extends Ports, K extends keyof I & string> = BaseNodeOptions<C> & {
  /** The input that receives each element, wired to the whole collection: `over: { workflow: collect.out.workflows }`. */
  over: { [P in K]: CollectionRef<I[P]> };
  /** Items per element (default 1): the input then receives an array of up to this many. */
  batchSize?: number;
  /**
   * Share of elements that must succeed (default 1: all). Below 1, the collection is stored without
   * the failed ones, which the run record lists; the next run retries only those.
   */
  minSuccessRatio?: number;
} & ([RequiredInputNames<Omit<I, K>>] extends [never] ? { inputs?: InputWiring<Omit<I, K>> } : { inputs: InputWiring<Omit<I, K>> });

/** Returned by `p.map`: the node id and references to its collected outputs. */
export interface MapHandle<O extends Ports> {
  readonly id: string;
  readonly out: { [K in keyof O]: RefFor<CollectedPort<O[K]>> };
}

export interface PipelineNode {
  id: string;
  step: AnyStep;
  config: unknown;
  resources?: Resources;
  /** Overrides the step's `maxAge` for this node. */
  maxAge?: string;
  inputs: Record<string, OutputRef>;
  /** Set for `p.map` nodes: `inputs[map.over]` is the collection fed element by element. */
  map?: MapSpec;
}

export interface PipelineBuilder {
  /** Adds a step to the pipeline and returns references to its outputs. */
  add<C extends z.ZodType, I extends Ports, O extends Ports>(
    step: StepDefinition<C, I, O>,
    ...options: [RequiredInputNames<I>] extends [never] ? [options?: NodeOptions<C, I>] : [options: NodeOptions<C, I>]
  ): StepHandle<O>;
  /**
   * Fans a step out over the items of a collection: one element (with its own cache key) per item, or
   * per batch of `batchSize` items. Unchanged elements are cache hits; the collected outputs are
   * ordered like the elements (a JSON output becomes a JSON Lines file, a file or directory output a
   * directory with one entry per element) and feed downstream steps like any output.
   *
   * @example
   * ```ts
   * const collected = p.add(collect, { inputs: { export: source.out.data } });   // workflows: JSONL file
   * const synthesized = p.map(synthesizeOne, {
   *   over: { workflow: collected.out.workflows },   // synthesizeOne's input `workflow: json(Workflow)`
   *   inputs: { style: styles.out.style },            // its other inputs, wired as in p.add
   *   minSuccessRatio: 0.95,
   * });
   * p.add(buildTrainSet, { inputs: { examples: synthesized.out.example } }); // example.jsonl, one line per workflow
   * ```
   */
  map<C extends z.ZodType, I extends Ports, O extends Ports, K extends keyof I & string>(
    step: StepDefinition<C, I, O>,
    options: MapOptions<C, I, K>,
  ): MapHandle<O>;
  /** An untyped reference by name, for wiring computed at run time; validation checks it exists. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ref(node: string, output: string): OutputRef<any, any>;
}

export interface PipelineSpec {
  /** Pipeline name: run records and plans are kept per name. */
  name: string;
  description?: string;
  /**
   * Named variants of the pipeline (name → what it is for), chosen with `flywheel run --profile`:
   * e.g. `local` with offline stand-ins and `production` with the LLM and the GPU trainer. The first
   * is the default. `build` receives the chosen one and may wire different steps for it.
   */
  profiles?: Record<string, string>;
  /**
   * Overrides every step's `onCodeChange` in this pipeline: what a cache hit computed by other code
   * (same version) does, `rerun` or `warn`. Default: each step's own setting (`rerun` unless it says).
   */
  onCodeChange?: OnCodeChange;
  /** What the pipeline adds to `flywheel compare`, the run view and the CLI (its own commands). */
  extensions?: PipelineExtensions;
  /** Declares the steps and their wiring; called once per profile used. */
  build(p: PipelineBuilder, context: { profile: string | undefined }): void;
}

export interface PipelineDefinition {
  readonly [PIPELINE_BRAND]: true;
  readonly name: string;
  readonly description?: string;
  readonly nodes: readonly PipelineNode[];
  /** The profile these nodes were built for (undefined when the pipeline declares none). */
  readonly profile?: string;
  /** Declared profiles, name → description. */
  readonly profiles?: Readonly<Record<string, string>>;
  /** The same pipeline built for another of its profiles. */
  readonly withProfile?: (profile: string) => PipelineDefinition;
  /** Overrides every step's `onCodeChange`. */
  readonly onCodeChange?: OnCodeChange;
  readonly extensions?: PipelineExtensions;
}

/** What `p.add` and `p.map` receive, untyped. */
interface NodeInput {
  id?: string;
  config?: unknown;
  inputs?: Record<string, OutputRef>;
  resources?: Resources;
  maxAge?: string;
  over?: Record<string, OutputRef>;
  batchSize?: number;
  minSuccessRatio?: number;
}

function makeRef(node: string, output: string, kind: PortKind | undefined): OutputRef {
  return { [REF_BRAND]: true, node, output, kind };
}

export function isOutputRef(value: unknown): value is OutputRef {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[REF_BRAND] === true;
}

export function isPipelineDefinition(value: unknown): value is PipelineDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PIPELINE_BRAND] === true;
}

/**
 * Defines a pipeline: a DAG of steps wired output → input in code. Nothing runs here; `flywheel run`
 * validates the whole pipeline first and reports every problem at once.
 *
 * @example
 * ```ts
 * import { definePipeline } from 'flywheel';
 * import { fetchCorpus, countWords, report } from '../steps/words.js';
 *
 * export default definePipeline({
 *   name: 'words',
 *   build(p) {
 *     const corpus = p.add(fetchCorpus, { config: { files: 20 } });
 *     const counts = p.add(countWords, { inputs: { text: corpus.out.text } });
 *     p.add(report, { inputs: { counts: counts.out.counts } });
 *   },
 * });
 * ```
 */
export function definePipeline(spec: PipelineSpec): PipelineDefinition {
  const profiles = spec.profiles === undefined ? undefined : Object.keys(spec.profiles);
  return buildFor(spec, profiles?.[0]);
}

function buildFor(spec: PipelineSpec, profile: string | undefined): PipelineDefinition {
  const nodes: PipelineNode[] = [];
  const addNode = (step: AnyStep, options: NodeInput, map: MapSpec | undefined, ports: Ports): { id: string; out: Record<string, OutputRef> } => {
    const id = options.id ?? step.id;
    nodes.push({
      id,
      step,
      config: options.config ?? {},
      inputs: { ...(options.inputs ?? {}), ...(options.over ?? {}) },
      ...(options.resources === undefined ? {} : { resources: options.resources }),
      ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
      ...(map === undefined ? {} : { map }),
    });
    const out: Record<string, OutputRef> = {};
    for (const [name, port] of Object.entries(ports)) out[name] = makeRef(id, name, port.kind);
    return { id, out };
  };
  const builder: PipelineBuilder = {
    add(step, ...rest) {
      return addNode(step, (rest[0] ?? {}) as NodeInput, undefined, step.outputs as Ports) as never;
    },
    map(step, options) {
      const given = options as NodeInput;
      // Validation reports a missing or doubled `over` with the rest of the pipeline's problems.
      const over = Object.keys(given.over ?? {});
      const map: MapSpec = { over: over.length === 1 ? (over[0] as string) : '', batchSize: given.batchSize ?? 1, minSuccessRatio: given.minSuccessRatio ?? 1 };
      return addNode(step, given, map, collectedPorts(step.outputs as Ports)) as never;
    },
    ref(node, output) {
      return makeRef(node, output, undefined);
    },
  };
  spec.build(builder, { profile });
  const variants =
    spec.profiles === undefined || profile === undefined ? {} : { profile, profiles: spec.profiles, withProfile: (other: string) => buildFor(spec, other) };
  return {
    [PIPELINE_BRAND]: true,
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.onCodeChange === undefined ? {} : { onCodeChange: spec.onCodeChange }),
    ...(spec.extensions === undefined ? {} : { extensions: spec.extensions }),
    nodes,
    ...variants,
  };
}
