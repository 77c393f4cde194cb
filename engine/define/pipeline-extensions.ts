import type { RunRecord } from '../../cache/records.js';
import type { Store } from '../../cache/store.js';

// What a pipeline adds to the generic CLI and run view, declared in its definition (`extensions`):
// the CLI and the UI know no pipeline's code, they ask the pipeline of the runs they show.

/** One metric on one slice in both runs of a comparison: `scale` says how to read it (`rate` 0..1, or a plain number). */
export interface CompareRow {
  slice: string;
  metric: string;
  scale: 'rate' | 'number';
  a: number | null;
  b: number | null;
  delta: number | null;
  /** 95% interval of the change, when the pipeline can pair the runs' items; else null. */
  deltaCi: readonly [number, number] | null;
}

/**
 * A section of a comparison: what one node's output says in run A and in run B. The run view shows
 * every field beside `kind`, `node`, `step`, `output` and `rows` as it is (a `{ a, b }` pair reads "a → b"),
 * and `rows` as a table.
 */
export interface CompareSection {
  kind: string;
  node: string;
  step: string;
  output: string;
  rows?: readonly CompareRow[];
}

/** A pipeline's part of a comparison: its sections (for `--json` and the run view) and the lines the terminal shows. */
export interface PipelineComparison {
  sections: CompareSection[];
  lines: string[];
}

/** A command a pipeline adds to the CLI: `flywheel <name> <args...>`. */
export interface PipelineCommand {
  /** Its arguments as `flywheel --help` lists them after the name, e.g. `ls [--json] | promote <version> | rollback`. */
  usage: string;
  /**
   * Runs it with the arguments that follow its name (the CLI has taken `--pipeline` out) and returns the
   * exit code. Bad usage throws `FlywheelError` with code `USAGE` and a fix: exit 2, the message and the fix.
   */
  run(args: readonly string[]): Promise<number>;
}

/**
 * What a pipeline adds to `flywheel compare`, the run view and the CLI.
 *
 * @example
 * ```ts
 * export default definePipeline({
 *   name: 'words',
 *   build(p) { ... },
 *   extensions: {
 *     compare: async ({ store, a, b }) => ({ sections: [...], lines: ['word counts: 120 → 131'] }),
 *     commands: { wordcloud: { usage: '<runId>', run: async (args) => { ...; return 0; } } },
 *   },
 * });
 * ```
 */
export interface PipelineExtensions {
  /** Sections for a comparison of two runs of this pipeline, read from their outputs in `store`. */
  compare?: (runs: { store: Store; a: RunRecord; b: RunRecord }) => Promise<PipelineComparison>;
  /** Commands by name: `flywheel <name> …` runs one (found in ./pipelines, or picked with `--pipeline`). */
  commands?: Readonly<Record<string, PipelineCommand>>;
}
