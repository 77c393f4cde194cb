import type { Problem } from '../errors.js';

/** Config that replaces what the pipeline code says, per node id: from a config file and `--set`. */
export type ConfigOverrides = Record<string, Record<string, unknown>>;

/** A `--set` value: JSON when it parses (`3`, `true`, `[1,2]`, `"x"`), otherwise the raw text. */
function parseSetValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Plain objects only: a Date (or any other instance) is a value that replaces, never a record that merges. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** ISO 8601 with a zone (`Z` or `±hh:mm`), or a date alone (midnight UTC): text that means one instant on every machine. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** Objects merge key by key; anything else (arrays included) replaces. Inputs are never mutated. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isRecord(base) || !isRecord(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = key in out ? deepMerge(out[key], value) : value;
  return out;
}

/**
 * Turns `--set step.path.to.field=value` arguments into overrides. Problems name the offending argument.
 *
 * @example
 * parseSetArguments(['train.lr=0.001', 'collect.days=7'])
 * // → { overrides: { train: { lr: 0.001 }, collect: { days: 7 } }, problems: [] }
 */
export function parseSetArguments(sets: readonly string[]): { overrides: ConfigOverrides; problems: Problem[] } {
  let overrides: ConfigOverrides = {};
  const problems: Problem[] = [];
  for (const arg of sets) {
    const eq = arg.indexOf('=');
    const path = eq < 0 ? '' : arg.slice(0, eq);
    const parts = path.split('.');
    if (eq < 0 || parts.length < 2 || parts.some((p) => p === '')) {
      problems.push({
        code: 'CONFIG_OVERRIDE_INVALID',
        message: `--set ${JSON.stringify(arg)} is not of the form <step>.<config path>=<value>`,
        fix: 'write e.g. --set count-words.minLength=4 (values are parsed as JSON when they can be)',
      });
      continue;
    }
    let value = parseSetValue(arg.slice(eq + 1));
    for (const part of parts.slice(1).reverse()) value = { [part]: value };
    overrides = deepMerge(overrides, { [parts[0] as string]: value }) as ConfigOverrides;
  }
  return { overrides, problems };
}

/** Reads the `{ "<step id>": { ...config } }` object of a config file. */
export function overridesFromFile(content: unknown, fileName: string): { overrides: ConfigOverrides; problems: Problem[] } {
  if (!isRecord(content)) {
    return {
      overrides: {},
      problems: [
        {
          code: 'CONFIG_OVERRIDE_INVALID',
          message: `${fileName} must hold a JSON object keyed by step id`,
          fix: 'write e.g. { "count-words": { "minLength": 4 } }',
        },
      ],
    };
  }
  const overrides: ConfigOverrides = {};
  const problems: Problem[] = [];
  for (const [stepId, config] of Object.entries(content)) {
    if (isRecord(config)) overrides[stepId] = config;
    else
      problems.push({
        code: 'CONFIG_OVERRIDE_INVALID',
        stepId,
        message: `${fileName}: the config for ${stepId} is not an object`,
        fix: `write "${stepId}": { ... } with that step's config fields`,
      });
  }
  return { overrides, problems };
}

/** The zod 4 definition of a schema: just the parts the coercion below reads. */
interface SchemaDef {
  type: string;
  innerType?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
  in?: unknown;
}
const defOf = (schema: unknown): SchemaDef | undefined => (schema as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * Text cannot carry a Date or a BigInt, so an override (from `--set` or a config file) is converted where
 * the step's schema expects one: ISO text → Date (`--set s.since=2026-01-31T00:00:00Z`), an integer
 * literal → BigInt (`--set s.seed=12345678901234567890n` or `=42`). Anything else is left for the schema
 * to judge, so a wrong value is still reported with its path.
 */
export function coerceToSchema(schema: unknown, value: unknown): unknown {
  let def = defOf(schema);
  while (def !== undefined && WRAPPERS.has(def.type)) def = defOf(def.innerType);
  if (def === undefined) return value;
  if (def.type === 'date' && typeof value === 'string') {
    // Local-time or loose text ("2026-02-01 10:00", "March 5") would hash differently per machine's zone.
    if (!ISO_INSTANT.test(value)) return value;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date;
  }
  if (def.type === 'bigint') {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    if (typeof value === 'string' && /^-?\d+n?$/.test(value)) return BigInt(value.replace(/n$/, ''));
    return value;
  }
  if (def.type === 'object' && isRecord(value) && def.shape !== undefined) {
    const shape = def.shape;
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, key in shape ? coerceToSchema(shape[key], v) : v]));
  }
  if (def.type === 'array' && Array.isArray(value)) return value.map((v) => coerceToSchema(def?.element, v));
  if (def.type === 'pipe') return coerceToSchema(def.in, value);
  return value;
}
