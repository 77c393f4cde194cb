// A component's value inputs as typed config: Tangle's type names mapped to zod, defaults (always text in
// a component.yaml) read by their type, and values written back as the text a command line takes.
import { z } from 'zod';
import { FlywheelError } from '../errors.js';
import type { InputSpec } from './component-spec.js';
import { secretReferenceSchema } from './component-secrets.js';

export type ValueKind = 'string' | 'integer' | 'float' | 'boolean' | 'json';

/**
 * Tangle's and Kubeflow v1's type names (and their aliases); any other name, or none, is text. The JSON
 * types take any JSON value: Tangle checks no types, and a library's `JsonObject` input may hold a string
 * (Build_dict's values do).
 */
const KINDS: Record<string, ValueKind> = {
  string: 'string',
  str: 'string',
  integer: 'integer',
  int: 'integer',
  float: 'float',
  boolean: 'boolean',
  bool: 'boolean',
  jsonobject: 'json',
  dictionary: 'json',
  dict: 'json',
  jsonarray: 'json',
  list: 'json',
  json: 'json',
};

export function valueKind(input: InputSpec): ValueKind {
  const type = input.type;
  const name = typeof type === 'string' ? type : type !== undefined && !Array.isArray(type) ? Object.keys(type)[0] : undefined;
  return (name === undefined ? undefined : KINDS[name.toLowerCase()]) ?? 'string';
}

const SCHEMAS: Record<ValueKind, () => z.ZodType> = {
  string: () => z.string(),
  integer: () => z.number().int(),
  float: () => z.number(),
  boolean: () => z.boolean(),
  json: () => z.unknown(),
};

/**
 * Text (a default, a pipeline's constant argument: always text in Tangle's files) as a value of the input's
 * type; text that does not read as that type is COMPONENT_INVALID, naming `what` it is.
 */
export function valueOfText(input: InputSpec, text: string, source: string, what = 'the default'): unknown {
  const kind = valueKind(input);
  const bad = (): never => {
    throw new FlywheelError(
      'COMPONENT_INVALID',
      `${source}: input ${input.name} (${String(input.type)}) has ${what} ${JSON.stringify(text)}, which is not one`,
      {
        fix: `write a value of its type, quoted (e.g. '5' for an Integer)`,
      },
    );
  };
  switch (kind) {
    case 'string':
      return text;
    case 'integer':
    case 'float': {
      const n = Number(text);
      return text.trim() === '' || !Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n)) ? bad() : n;
    }
    case 'boolean':
      return /^true$/i.test(text) ? true : /^false$/i.test(text) ? false : bad();
    default:
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return bad();
      }
  }
}

/**
 * The config schema of a component's value inputs: each by its type; a required input's default applied;
 * an optional input left out when not set (Tangle passes none, and its argument leaves the command line).
 * Any of them may instead name a secret (see component-secrets.ts). `asText` are file inputs given as
 * text (a constant Tangle stages as a file): text whatever their type.
 */
export function valuesSchema(inputs: readonly InputSpec[], source: string, asText: ReadonlySet<string> = new Set()): z.ZodObject<Record<string, z.ZodType>> {
  const shape: Record<string, z.ZodType> = {};
  for (const input of inputs) {
    const text = asText.has(input.name);
    const schema = valueOrSecret(text ? 'string' : valueKind(input));
    const described = input.description === undefined ? schema : schema.describe(input.description);
    if (input.optional === true) shape[input.name] = described.optional();
    else if (input.default !== undefined) shape[input.name] = described.default((text ? input.default : valueOfText(input, input.default, source)) as never);
    else shape[input.name] = described;
  }
  return z.object(shape).strict();
}

/**
 * A value of the kind, or a secret reference (an object with `dynamicData`). Missing, it says so plainly.
 * Text takes text only: `--set` reads `1.50` as the number 1.5, so a number-like text must be quoted
 * (`--set 'Greet.name="1.50"'`, as the error's fix says) rather than silently become "1.5".
 */
function valueOrSecret(kind: ValueKind): z.ZodType {
  const typed = SCHEMAS[kind]();
  const secret = secretReferenceSchema();
  return z.unknown().transform((value, context) => {
    if (value === undefined) {
      context.addIssue({ code: 'custom', message: 'needs a value: the input is required and has no default' });
      return z.NEVER;
    }
    const isSecret = value !== null && typeof value === 'object' && 'dynamicData' in value;
    const parsed = (isSecret ? secret : typed).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) context.addIssue({ ...issue, input: value } as never);
    return z.NEVER;
  });
}

/**
 * A value as its command line takes it: a JSON input's value as compact JSON (a string quoted), other text
 * as is, numbers as written, booleans as `True`/`False` (as Kubeflow v1 wrote them).
 */
export function valueText(value: unknown, kind: ValueKind = 'string'): string {
  if (kind === 'json') return JSON.stringify(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return JSON.stringify(value);
}
