import type { CompareRow } from 'flywheel';
import type { Slices } from '../flow-agent/benchmark-generator.js';
import { METRICS, sliceKeys } from '../flow-agent/score-workflow.js';
import { tInterval } from '../stats/paired-tests.js';

// The flagship's part of `flywheel compare`: benchmark metrics, judged good rates, the judge's
// calibration, drift and trust, mirroring and the deploy decision of two runs, side by side.
// Outputs are read loosely, field by field, never with the steps' zod schemas: a record written by an
// older or newer version of a step (a field added, renamed or gone) still shows what it has.

/** The JSON outputs the sections read, by step type id (a record's `step`, not the node id). */
export const SECTION_OUTPUTS: Readonly<Record<string, string>> = {
  'flow-evaluate': 'metrics',
  'judge-predictions': 'judged',
  'judge-calibrate': 'judge',
  'judge-golden-drift': 'drift',
  'judge-trust': 'trust',
  'flow-mirror': 'mirror',
  'flow-deploy': 'decision',
};

/** Per-item outputs (JSONL) read beside them, by step type: the benchmark's per-example scores pair two runs. */
export const SECTION_ITEMS: Readonly<Record<string, string>> = { 'flow-evaluate': 'predictions' };

/** One run's output of one node, as the CLI read it: `value` undefined when the run has none. */
export interface SectionSource {
  node: string;
  step: string;
  status: string;
  value: unknown;
  /** The lines of its per-item output (SECTION_ITEMS), when it has one. */
  items?: readonly unknown[];
  /** Why there is no value (failed, skipped, unreadable), or null. */
  note: string | null;
}

export type Pair<T> = { a: T | null; b: T | null };
type Interval = [number, number];
type Scalar = string | number | boolean | null;

/** One metric on one slice in both runs, with each run's item count and interval. */
export interface MetricRow extends CompareRow {
  countA: number | null;
  countB: number | null;
  ciA: Interval | null;
  ciB: Interval | null;
  /**
   * 95% t interval of the change, paired over the items both runs scored (the same benchmark examples),
   * when per-item scores exist; for a rate, clipped to what a change of rates can be ([-1, +1]).
   */
  deltaCi: Interval | null;
  /** The t interval reached past what the metric can take and was clipped (a slice of a few items). */
  deltaCiClipped?: boolean;
}

interface SectionBase {
  node: string;
  step: string;
  output: string;
  /** Each run's step status and, when it has no value, why. */
  runs: Pair<{ status: string; available: boolean; note: string | null }>;
  /** Top-level fields this version of the comparison does not know, as they are in each run. */
  extra: Array<{ field: string; a: Scalar | undefined; b: Scalar | undefined }>;
}

export interface MetricsSection extends SectionBase {
  kind: 'metrics';
  model: Pair<string>;
  offlineStandIn: Pair<boolean>;
  failedPredictions: Pair<number>;
  rows: MetricRow[];
}

export interface JudgedSection extends SectionBase {
  kind: 'judged';
  /** Why nothing was judged (an untrusted judge), or null. */
  refused: Pair<string>;
  judge: Pair<string>;
  specDigest: Pair<string>;
  heldOutKappa: Pair<number>;
  unjudged: Pair<number>;
  rows: MetricRow[];
}

export interface CalibrationSection extends SectionBase {
  kind: 'calibration';
  judge: Pair<string>;
  specDigest: Pair<string>;
  specChanged: boolean | null;
  rubric: Pair<string>;
  heldOutMean: Pair<number>;
  heldOutDelta: number | null;
  ceiling: Pair<number>;
  developmentMean: Pair<number>;
  annotators: Array<{ annotator: number; a: number | null; b: number | null; ciA: Interval | null; ciB: Interval | null }>;
}

export interface DriftRun {
  status: string | null;
  kappa: number | null;
  ci: Interval | null;
  /** Items labelled differently than in the baseline, and the Stuart–Maxwell p of that shift. */
  changedItems: number | null;
  labelShiftP: number | null;
  /** Paired change in golden-set kappa against the baseline, with its interval. */
  kappaChange: number | null;
  kappaChangeCi: Interval | null;
  reasons: string[];
}

export interface DriftSection extends SectionBase {
  kind: 'drift';
  drift: Pair<DriftRun>;
}

export interface TrustRun {
  trusted: boolean | null;
  code: string | null;
  reasons: string[];
  /** The calibration gate: held-out kappa and its lower bound. */
  kappa: number | null;
  lowerBound: number | null;
}

export interface TrustSection extends SectionBase {
  kind: 'trust';
  trust: Pair<TrustRun>;
}

export interface MirrorRun {
  skipped: string | null;
  /** Why the judge's verdicts were not allowed to act (an untrusted judge), or null. */
  refused: string | null;
  production: string | null;
  candidate: string | null;
  n: number | null;
  wins: number | null;
  ties: number | null;
  losses: number | null;
  /** Mean score of the candidate (win 1, tie ½, loss 0); `winRate` in records of older versions. */
  score: number | null;
  ci: Interval | null;
  signTestP: number | null;
  promote: boolean | null;
  reasons: string[];
}

export interface MirrorSection extends SectionBase {
  kind: 'mirror';
  mirror: Pair<MirrorRun>;
}

export interface DeployRun {
  version: number | null;
  newVersion: boolean | null;
  promoted: boolean | null;
  production: number | null;
  reasons: string[];
}

export interface DeploySection extends SectionBase {
  kind: 'deploy';
  decision: Pair<DeployRun>;
}

export type DomainSection = MetricsSection | JudgedSection | CalibrationSection | DriftSection | TrustSection | MirrorSection | DeploySection;

// ---------------------------------------------------------------- loose accessors

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const interval = (v: unknown): Interval | null =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number' ? [v[0], v[1]] : null;
const isScalar = (v: unknown): v is Scalar => v === null || ['string', 'number', 'boolean'].includes(typeof v);

function pair<T>(a: Loose | undefined, b: Loose | undefined, read: (o: Loose) => T | null): Pair<T> {
  return { a: a === undefined ? null : read(a), b: b === undefined ? null : read(b) };
}

const delta = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);

/** Scalar top-level fields other than `known`, so a field added by a newer step version still shows. */
function extraFields(a: Loose | undefined, b: Loose | undefined, known: readonly string[]): SectionBase['extra'] {
  const names = [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].filter((n) => !known.includes(n)).sort();
  return names.flatMap((field) => {
    const [x, y] = [a?.[field], b?.[field]];
    if ((x !== undefined && !isScalar(x)) || (y !== undefined && !isScalar(y))) return [];
    return [{ field, a: x, b: y }];
  });
}

/** A metric's interval wherever a version of the output keeps it: `<m>Ci`, `ci.<m>`, or `scoreCi` for `meanScore`. */
function intervalOf(summary: Loose, metric: string): Interval | null {
  const short = metric.startsWith('mean') && metric.length > 4 ? `${(metric[4] ?? '').toLowerCase()}${metric.slice(5)}` : undefined;
  return (
    interval(summary[`${metric}Ci`]) ??
    (short === undefined ? null : interval(summary[`${short}Ci`])) ??
    interval(obj(summary.ci)?.[metric]) ??
    interval(obj(summary.intervals)?.[metric])
  );
}

const RATES = new Set<string>([...METRICS, 'good', 'winRate']);
const COUNTS = ['examples', 'items', 'n'];

/**
 * Rows for `overall` and every slice in either run: the `preferred` metrics first, then any other
 * number the summaries hold (a field a newer step added), with intervals where the data has them.
 */
function sliceRows(a: Loose | undefined, b: Loose | undefined, preferred: readonly string[]): MetricRow[] {
  const summaries = (o: Loose | undefined): Map<string, Loose> => {
    const out = new Map<string, Loose>();
    const overall = obj(o?.overall);
    if (overall !== undefined) out.set('overall', overall);
    for (const [name, s] of Object.entries(obj(o?.slices) ?? {})) {
      const summary = obj(s);
      if (summary !== undefined) out.set(name, summary);
    }
    return out;
  };
  const [before, after] = [summaries(a), summaries(b)];
  const slices = [...new Set([...after.keys(), ...before.keys()])].sort((x, y) => (x === 'overall' ? -1 : y === 'overall' ? 1 : x.localeCompare(y)));
  const rows: MetricRow[] = [];
  for (const slice of slices) {
    const [sa, sb] = [before.get(slice), after.get(slice)];
    const present = new Set([...Object.keys(sa ?? {}), ...Object.keys(sb ?? {})]);
    const numeric = (m: string): boolean => num(sa?.[m]) !== null || num(sb?.[m]) !== null || sa?.[m] === null || sb?.[m] === null;
    const others = [...present].filter((m) => !preferred.includes(m) && !COUNTS.includes(m) && !m.endsWith('Ci') && numeric(m)).sort();
    const count = (s: Loose | undefined): number | null => (s === undefined ? null : (COUNTS.map((c) => num(s[c])).find((c) => c !== null) ?? null));
    for (const metric of [...preferred.filter((m) => present.has(m)), ...others]) {
      const [va, vb] = [num(sa?.[metric]), num(sb?.[metric])];
      if (va === null && vb === null) continue;
      rows.push({
        slice,
        metric,
        scale: RATES.has(metric) ? 'rate' : 'number',
        countA: count(sa),
        countB: count(sb),
        a: va,
        b: vb,
        delta: delta(va, vb),
        ciA: sa === undefined ? null : intervalOf(sa, metric),
        ciB: sb === undefined ? null : intervalOf(sb, metric),
        deltaCi: null,
      });
    }
  }
  return rows;
}

/**
 * Per-example scores of both runs (evaluate's predictions: `{ id, slices, scores }` per line), paired by id:
 * for each slice and metric, the 95% t interval of the per-example change. The same examples scored twice, so
 * the interval is far narrower than the two runs' own intervals suggest.
 */
function withPairedDeltas(rows: MetricRow[], a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): MetricRow[] {
  if (a === undefined || b === undefined) return rows;
  const byId = (items: readonly unknown[]): Map<string, Loose> => {
    const out = new Map<string, Loose>();
    for (const line of items) {
      const item = obj(line);
      const id = str(item?.id);
      if (item !== undefined && id !== null && obj(item.scores) !== undefined) out.set(id, item);
    }
    return out;
  };
  const [before, after] = [byId(a), byId(b)];
  const pairs = [...after].flatMap(([id, item]) => (before.has(id) ? [{ before: before.get(id) as Loose, after: item }] : []));
  const slicesOf = (item: Loose): string[] => {
    const slices = obj(item.slices);
    return slices === undefined ? [] : sliceKeys(slices as unknown as Slices);
  };
  return rows.map((row) => {
    const differences = pairs.flatMap(({ before: x, after: y }) => {
      if (row.slice !== 'overall' && !slicesOf(y).includes(row.slice)) return [];
      const [sa, sb] = [num(obj(x.scores)?.[row.metric]), num(obj(y.scores)?.[row.metric])];
      return sa === null || sb === null ? [] : [sb - sa];
    });
    if (differences.length < 2) return row;
    const [lo, hi] = tInterval(differences).ci;
    // A t interval over a handful of items can reach past ±100 points: a rate's change cannot.
    if (row.scale !== 'rate' || (lo >= -1 && hi <= 1)) return { ...row, deltaCi: [lo, hi] as Interval };
    return { ...row, deltaCi: [Math.max(-1, lo), Math.min(1, hi)] as Interval, deltaCiClipped: true };
  });
}

// ---------------------------------------------------------------- sections

function mirrorRun(o: Loose): MirrorRun {
  const overall = obj(o.overall) ?? {};
  return {
    skipped: str(o.skipped),
    refused: str(o.refused),
    production: str(o.production),
    candidate: str(o.candidate),
    n: num(overall.n),
    wins: num(overall.wins),
    ties: num(overall.ties),
    losses: num(overall.losses),
    score: num(overall.score) ?? num(overall.winRate),
    ci: interval(overall.ci) ?? intervalOf(overall, 'score') ?? intervalOf(overall, 'winRate'),
    signTestP: num(overall.signTestP),
    promote: bool(o.promote),
    reasons: strings(o.reasons),
  };
}

function section(node: string, step: string, output: string, a: SectionSource | undefined, b: SectionSource | undefined): DomainSection | undefined {
  const [va, vb] = [obj(a?.value), obj(b?.value)];
  const side = (s: SectionSource | undefined, v: Loose | undefined) =>
    s === undefined ? null : { status: s.status, available: v !== undefined, note: v !== undefined ? null : (s.note ?? 'no output') };
  const base = (known: readonly string[]) => ({ node, step, output, runs: { a: side(a, va), b: side(b, vb) }, extra: extraFields(va, vb, known) });
  switch (step) {
    case 'flow-evaluate':
      return {
        kind: 'metrics',
        ...base(['model', 'offlineStandIn', 'failedPredictions', 'overall', 'slices']),
        model: pair(va, vb, (o) => str(o.model)),
        offlineStandIn: pair(va, vb, (o) => bool(o.offlineStandIn)),
        failedPredictions: pair(va, vb, (o) => num(o.failedPredictions)),
        rows: withPairedDeltas(sliceRows(va, vb, METRICS), a?.items, b?.items),
      };
    case 'judge-predictions': {
      return {
        kind: 'judged',
        ...base(['refused', 'judge', 'offline', 'specDigest', 'heldOutKappa', 'unjudged', 'overall', 'slices']),
        refused: pair(va, vb, (o) => str(o.refused)),
        judge: pair(va, vb, (o) => str(o.judge)),
        specDigest: pair(va, vb, (o) => str(o.specDigest)),
        heldOutKappa: pair(va, vb, (o) => num(o.heldOutKappa)),
        unjudged: pair(va, vb, (o) => num(o.unjudged)),
        rows: sliceRows(va, vb, ['good']),
      };
    }
    case 'judge-calibrate': {
      const held = pair(va, vb, (o) => obj(o.heldOut) ?? null);
      const specDigest = pair(va, vb, (o) => str(o.specDigest));
      const heldOutMean = { a: num(held.a?.mean), b: num(held.b?.mean) };
      const kappas = { a: Array.isArray(held.a?.kappa) ? (held.a.kappa as unknown[]) : [], b: Array.isArray(held.b?.kappa) ? (held.b.kappa as unknown[]) : [] };
      const cis = { a: Array.isArray(held.a?.ci) ? (held.a.ci as unknown[]) : [], b: Array.isArray(held.b?.ci) ? (held.b.ci as unknown[]) : [] };
      return {
        kind: 'calibration',
        ...base(['judge', 'offline', 'spec', 'specDigest', 'development', 'heldOut', 'iterations', 'candidatesTried', 'disagreements']),
        judge: pair(va, vb, (o) => str(o.judge)),
        specDigest,
        specChanged: specDigest.a === null || specDigest.b === null ? null : specDigest.a !== specDigest.b,
        rubric: pair(va, vb, (o) => str(obj(o.spec)?.rubricName)),
        heldOutMean,
        heldOutDelta: delta(heldOutMean.a, heldOutMean.b),
        ceiling: { a: num(held.a?.ceiling), b: num(held.b?.ceiling) },
        developmentMean: pair(va, vb, (o) => num(obj(o.development)?.mean)),
        annotators: Array.from({ length: Math.max(kappas.a.length, kappas.b.length) }, (_, i) => ({
          annotator: i + 1,
          a: num(kappas.a[i]),
          b: num(kappas.b[i]),
          ciA: interval(cis.a[i]),
          ciB: interval(cis.b[i]),
        })),
      };
    }
    case 'judge-golden-drift':
      return {
        kind: 'drift',
        ...base([
          'runId',
          'at',
          'judge',
          'specDigest',
          'kappa',
          'ci',
          'labels',
          'items',
          'status',
          'reasons',
          'baseline',
          'labelShift',
          'kappaChange',
          'labelShiftP',
        ]),
        drift: pair(va, vb, (o) => ({
          status: str(o.status),
          kappa: num(o.kappa),
          ci: interval(o.ci),
          changedItems: num(obj(o.labelShift)?.discordant),
          labelShiftP: num(obj(o.labelShift)?.p) ?? num(o.labelShiftP),
          kappaChange: num(obj(o.kappaChange)?.delta),
          kappaChangeCi: interval(obj(o.kappaChange)?.ci),
          reasons: strings(o.reasons),
        })),
      };
    case 'judge-trust':
      return {
        kind: 'trust',
        ...base(['trusted', 'reasons', 'code', 'judge', 'gate', 'drift']),
        trust: pair(va, vb, (o) => ({
          trusted: bool(o.trusted),
          code: str(o.code),
          reasons: strings(o.reasons),
          kappa: num(obj(o.gate)?.kappa),
          lowerBound: num(obj(o.gate)?.lowerBound),
        })),
      };
    case 'flow-mirror':
      return {
        kind: 'mirror',
        ...base(['skipped', 'refused', 'production', 'candidate', 'judge', 'unjudged', 'overall', 'slices', 'promote', 'reasons']),
        mirror: pair(va, vb, mirrorRun),
      };
    case 'flow-deploy':
      return {
        kind: 'deploy',
        ...base(['version', 'newVersion', 'promoted', 'production', 'reasons']),
        decision: pair(va, vb, (o) => ({
          version: num(o.version),
          newVersion: bool(o.newVersion),
          promoted: bool(o.promoted),
          production: num(o.production),
          reasons: strings(o.reasons),
        })),
      };
    default:
      return undefined;
  }
}

const KIND_ORDER: ReadonlyArray<DomainSection['kind']> = ['metrics', 'judged', 'calibration', 'drift', 'trust', 'mirror', 'deploy'];

/**
 * The domain sections for every node of a known step type in either run (B's order first), pairing
 * the two runs' outputs by node id.
 *
 * @example
 * const sections = compareSections(outputsOfA, outputsOfB);
 * process.stdout.write(formatSections(sections).join('\n'));
 */
export function compareSections(a: readonly SectionSource[], b: readonly SectionSource[]): DomainSection[] {
  const nodes = [...new Set([...b.map((s) => s.node), ...a.map((s) => s.node)])];
  const made = nodes.flatMap((node) => {
    const [sb, sa0] = [b.find((s) => s.node === node), a.find((s) => s.node === node)];
    const step = (sb ?? sa0)?.step ?? '';
    const output = SECTION_OUTPUTS[step];
    if (output === undefined) return [];
    // The same node id running another step type is not the same thing: show B's side only.
    const sa = sa0?.step === step ? sa0 : undefined;
    const one = section(node, step, output, sa, sb);
    return one === undefined ? [] : [one];
  });
  // "Is it better?" first: the benchmark, then the judge's verdicts and standing, then what shipped.
  return made.sort((x, y) => KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind));
}

// ---------------------------------------------------------------- text

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const fixed = (v: number | null, digits = 3): string => (v === null ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits));
const signed = (v: number | null, scale: 'rate' | 'number'): string => {
  if (v === null) return '–';
  const n = scale === 'rate' ? v * 100 : v;
  const shown = Math.abs(n).toFixed(scale === 'rate' ? 1 : Number.isInteger(v) ? 0 : 3);
  return `${Number(shown) === 0 ? '±' : n > 0 ? '+' : '-'}${shown}${scale === 'rate' ? ' pt' : ''}`;
};
const ciText = (ci: Interval | null, scale: 'rate' | 'number'): string =>
  ci === null ? '' : scale === 'rate' ? `[${(ci[0] * 100).toFixed(1)}, ${(ci[1] * 100).toFixed(1)}]` : `[${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]`;
const value = (v: number | null, scale: 'rate' | 'number'): string => (scale === 'rate' ? pct(v) : fixed(v));
const arrow = <T>(p: Pair<T>, show: (v: T) => string = String): string => {
  const [a, b] = [p.a === null ? '–' : show(p.a), p.b === null ? '–' : show(p.b)];
  return a === b ? `${a} (same)` : `${a} → ${b}`;
};
const yesNo = (v: boolean | null): string => (v === null ? '–' : v ? 'yes' : 'no');
const short = (digest: string): string => digest.slice(0, 12);
const count = (p: { countA: number | null; countB: number | null }): string =>
  p.countA === p.countB ? (p.countB === null ? '' : ` (${p.countB})`) : ` (${p.countA ?? '–'}→${p.countB ?? '–'})`;

function table(rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `    ${r.map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd());
}

function metricTable(rows: readonly MetricRow[]): string[] {
  if (rows.length === 0) return ['    (no metrics)'];
  const withCi = rows.some((r) => r.ciA !== null || r.ciB !== null);
  const withDeltaCi = rows.some((r) => r.deltaCi !== null);
  const header = ['slice', 'metric', 'A', 'B', 'Δ', ...(withDeltaCi ? ['Δ 95% CI (paired)'] : []), ...(withCi ? ['95% CI A', '95% CI B'] : [])];
  const body = rows.map((r, i) => [
    i > 0 && rows[i - 1]?.slice === r.slice ? '' : `${r.slice}${count(r)}`,
    r.metric,
    value(r.a, r.scale),
    value(r.b, r.scale),
    signed(r.delta, r.scale),
    ...(withDeltaCi ? [`${ciText(r.deltaCi, r.scale)}${r.deltaCiClipped === true ? '*' : ''}`] : []),
    ...(withCi ? [ciText(r.ciA, r.scale), ciText(r.ciB, r.scale)] : []),
  ]);
  const clipped = rows.some((r) => r.deltaCiClipped === true);
  return [
    ...table([header, ...body], new Set([2, 3, 4])),
    ...(clipped ? ['    * clipped to what the metric can take (±100 points): too few paired items for the interval to say more'] : []),
  ];
}

const clip = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

function scalarText(v: Scalar | undefined): string {
  if (v === undefined) return '(absent)';
  if (typeof v === 'string') return /^[0-9a-f]{64}$/.test(v) ? short(v) : clip(v, 40);
  return JSON.stringify(v);
}

/** Fields a newer (or older) step version wrote that the sections do not know: shown as they are. */
function extraLines(base: SectionBase): string[] {
  return base.extra
    .filter((e) => !((e.a === undefined || e.a === null) && (e.b === undefined || e.b === null)))
    .map((e) => `  ${e.field}: ${JSON.stringify(e.a) === JSON.stringify(e.b) ? `${scalarText(e.b)} (same)` : `${scalarText(e.a)} → ${scalarText(e.b)}`}`);
}

/** Why a run has no value here, or undefined when it has one. */
function missing(base: SectionBase, side: 'a' | 'b'): string | undefined {
  const run = base.runs[side];
  if (run === null) return 'not in this run';
  return run.available ? undefined : `${run.status}, no ${base.output}${run.note === null ? '' : `: ${clip(run.note)}`}`;
}

const missingLines = (base: SectionBase): string[] =>
  (['a', 'b'] as const).flatMap((side) => {
    const why = missing(base, side);
    return why === undefined ? [] : [`  ${side.toUpperCase()}: ${why}`];
  });

/** One line per run, with its reasons indented below it. */
function perRun<T>(base: SectionBase, values: Pair<T>, text: (v: T) => string, reasons: (v: T) => readonly string[]): string[] {
  return (['a', 'b'] as const).flatMap((side) => {
    const v = values[side];
    const why = missing(base, side);
    if (why !== undefined || v === null) return [`  ${side.toUpperCase()}: ${why ?? '–'}`];
    return [`  ${side.toUpperCase()}: ${text(v)}`, ...reasons(v).map((r) => `     ${clip(r)}`)];
  });
}

function mirrorText(m: MirrorRun): string {
  if (m.refused !== null) return `refused: ${clip(m.refused)}`;
  if (m.skipped !== null) return `skipped: ${m.skipped}`;
  const ci = m.ci === null ? '' : ` ${ciText(m.ci, 'number')}`;
  const p = m.signTestP === null ? '' : `, sign test p ${m.signTestP.toPrecision(2)}`;
  return `vs ${m.production ?? '–'}: ${fixed(m.wins)}/${fixed(m.ties)}/${fixed(m.losses)} wins/ties/losses; score ${fixed(m.score)}${ci}${p}; promote ${yesNo(m.promote)}`;
}

function trustText(t: TrustRun): string {
  const verdict = t.trusted === null ? 'trusted: –' : t.trusted ? 'trusted' : `not trusted${t.code === null ? '' : ` (${t.code})`}`;
  const gate = [t.kappa === null ? '' : `held-out kappa ${fixed(t.kappa)}`, t.lowerBound === null ? '' : `lower bound ${fixed(t.lowerBound)}`].filter(
    (x) => x !== '',
  );
  return gate.length === 0 ? verdict : `${verdict}; ${gate.join(', ')}`;
}

function driftText(d: DriftRun): string {
  const ci = d.ci === null ? '' : ` ${ciText(d.ci, 'number')}`;
  const changed = d.changedItems === null ? '' : `; ${d.changedItems} item(s) changed`;
  const shift = d.labelShiftP === null ? '' : `; label shift p ${d.labelShiftP.toPrecision(2)}`;
  const kappaChange =
    d.kappaChange === null ? '' : `; kappa change ${fixed(d.kappaChange)}${d.kappaChangeCi === null ? '' : ` ${ciText(d.kappaChangeCi, 'number')}`}`;
  return `${d.status ?? '–'}; golden kappa ${fixed(d.kappa)}${ci}${changed}${shift}${kappaChange}`;
}

function deployText(d: DeployRun): string {
  const version = d.version === null ? 'v–' : `v${d.version}`;
  const promoted = d.promoted === true ? 'promoted' : d.promoted === false ? 'not promoted' : 'promoted: –';
  return `${version}${d.newVersion === true ? ' (new)' : ''} ${promoted}; production ${d.production === null ? 'none' : `v${d.production}`}`;
}

/** Readable lines for the sections: short, aligned, one block per node. */
export function formatSections(sections: readonly DomainSection[]): string[] {
  const lines: string[] = [];
  const kappa = (v: number): string => fixed(v);
  for (const s of sections) {
    lines.push('', `${s.node} (${s.step}.${s.output})`);
    switch (s.kind) {
      case 'metrics':
        lines.push(`  model: ${arrow(s.model)}${s.offlineStandIn.b === true ? ' (offline stand-in)' : ''}`);
        if ((s.failedPredictions.a ?? 0) > 0 || (s.failedPredictions.b ?? 0) > 0) lines.push(`  failed predictions: ${arrow(s.failedPredictions)}`);
        lines.push(...missingLines(s), ...extraLines(s), ...metricTable(s.rows));
        break;
      case 'judged':
        lines.push(`  judge: ${arrow(s.judge)}; spec ${arrow(s.specDigest, short)}; held-out kappa ${arrow(s.heldOutKappa, kappa)}`);
        if ((s.unjudged.a ?? 0) > 0 || (s.unjudged.b ?? 0) > 0) lines.push(`  unjudged: ${arrow(s.unjudged)}`);
        for (const side of ['a', 'b'] as const) {
          const refused = s.refused[side];
          if (refused !== null) lines.push(`  ${side.toUpperCase()} refused: ${clip(refused)}`);
        }
        lines.push(...missingLines(s), ...extraLines(s), ...metricTable(s.rows));
        break;
      case 'calibration': {
        const spec =
          s.specChanged === null
            ? arrow(s.specDigest, short)
            : s.specChanged
              ? `changed ${short(s.specDigest.a ?? '')} → ${short(s.specDigest.b ?? '')}`
              : `same ${short(s.specDigest.b ?? '')}`;
        const moved = s.heldOutDelta === null || s.heldOutMean.a === s.heldOutMean.b ? '' : ` (${signed(s.heldOutDelta, 'number')})`;
        lines.push(
          `  spec: ${spec}; rubric ${arrow(s.rubric)}`,
          `  held-out kappa: ${arrow(s.heldOutMean, kappa)}${moved}; human ceiling ${arrow(s.ceiling, kappa)}`,
          `  development kappa: ${arrow(s.developmentMean, kappa)}`,
        );
        for (const h of s.annotators) {
          const side = (v: number | null, ci: Interval | null): string => [fixed(v), ciText(ci, 'number')].filter((x) => x !== '').join(' ');
          lines.push(`  annotator ${h.annotator}: ${arrow({ a: side(h.a, h.ciA), b: side(h.b, h.ciB) })}`);
        }
        lines.push(...missingLines(s), ...extraLines(s));
        break;
      }
      case 'drift':
        lines.push(...perRun(s, s.drift, driftText, (d) => d.reasons), ...extraLines(s));
        break;
      case 'trust':
        lines.push(...perRun(s, s.trust, trustText, (t) => t.reasons), ...extraLines(s));
        break;
      case 'mirror':
        lines.push(...perRun(s, s.mirror, mirrorText, (m) => (m.skipped === null ? m.reasons : [])), ...extraLines(s));
        break;
      case 'deploy':
        lines.push(...perRun(s, s.decision, deployText, (d) => d.reasons), ...extraLines(s));
        break;
    }
  }
  return lines;
}
