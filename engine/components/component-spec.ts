// A Tangle / Kubeflow Pipelines v1 component (`component.yaml`): typed inputs and outputs and a container
// command line with placeholders. Read as Tangle reads it: constants are strings (a default of `5` must
// be `'5'`), unknown fields are ignored, and the component's identity is the SHA-256 of its text.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { canonicalJson } from '../../cache/canonical.js';
import { zodIssues } from '../../cache/errors.js';
import { FlywheelError } from '../errors.js';

/** A command-line argument: a constant or a placeholder, checked when the line is built (see command-line.ts). */
export type CommandLineArgument = string | Record<string, unknown>;

const TypeSpec = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]);

export const InputSpec = z.object({
  name: z.string().min(1),
  type: TypeSpec.optional(),
  description: z.string().optional(),
  /** Always text in Tangle; typed when the input is a value (see component-values.ts). */
  default: z.string().optional(),
  optional: z.boolean().optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
});
export type InputSpec = z.infer<typeof InputSpec>;

export const OutputSpec = z.object({
  name: z.string().min(1),
  type: TypeSpec.optional(),
  description: z.string().optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
});
export type OutputSpec = z.infer<typeof OutputSpec>;

const Argument = z.union([z.string(), z.record(z.string(), z.unknown())]);

export const ContainerSpec = z.object({
  image: z.string().min(1),
  command: z.array(Argument).optional(),
  args: z.array(Argument).optional(),
  env: z.record(z.string(), z.string()).optional(),
});
export type ContainerSpec = z.infer<typeof ContainerSpec>;

export const ComponentSpec = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  metadata: z.object({ annotations: z.record(z.string(), z.string()).optional(), labels: z.record(z.string(), z.string()).optional() }).optional(),
  inputs: z.array(InputSpec).optional(),
  outputs: z.array(OutputSpec).optional(),
  implementation: z.union([z.object({ container: ContainerSpec }), z.object({ graph: z.record(z.string(), z.unknown()) })]),
});
export type ComponentSpec = z.infer<typeof ComponentSpec>;

/** A component read from its text, with where it came from and its digest. */
export interface LoadedComponent {
  spec: ComponentSpec;
  text: string;
  /** SHA-256 hex of the text, as Tangle computes `componentRef.digest`. */
  digest: string;
  /** Where it was read from (a path), for messages. */
  source: string;
}

/**
 * The digest Tangle gives a component: the SHA-256 of its text's UTF-8 bytes, with CRLF line ends made LF
 * (as its backend and Kubeflow's SDK do), so the digest in a pipeline file can be checked against the text.
 */
export function componentDigest(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** The YAML parser, loaded on first use: a pipeline without components does not pay for it at start-up. */
let yamlParse: ((text: string) => unknown) | undefined;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as { parse: (text: string) => unknown }).parse;
  return yamlParse(text);
}

/** Parses a component's text; a text that is not YAML or not a component is COMPONENT_INVALID, naming `source` and what is wrong. */
export function readComponent(text: string, source: string): LoadedComponent {
  return { spec: checkedSpec(parseComponentYaml(text, source), source), text, digest: componentDigest(text), source };
}

/** A component read from its file; no file there is COMPONENT_NOT_FOUND, with `where` before the path and `fix` saying how to name it. */
export function readComponentFile(path: string, where: string, fix: string): LoadedComponent {
  if (!existsSync(path) || !statSync(path).isFile()) throw new FlywheelError('COMPONENT_NOT_FOUND', `${where}no component file at ${path}`, { fix });
  return readComponent(readFileSync(path, 'utf8'), path);
}

/**
 * A component given as a parsed spec (a pipeline's inline `componentRef.spec`), without its text: its
 * digest is then its own, the SHA-256 of its canonical JSON (a spec cannot be turned back into the text
 * a `componentRef.digest` was computed from), so any edit of the spec still changes it.
 */
export function componentFromSpec(value: unknown, source: string): LoadedComponent {
  const spec = checkedSpec(value, source);
  const text = canonicalJson(value);
  return { spec, text, digest: createHash('sha256').update(text, 'utf8').digest('hex'), source };
}

function checkedSpec(value: unknown, source: string): ComponentSpec {
  const parsed = ComponentSpec.safeParse(value);
  if (!parsed.success)
    throw new FlywheelError('COMPONENT_INVALID', `${source} is not a component spec: ${zodIssues(parsed.error)}`, {
      fix: "see Tangle's component.yaml format: inputs and outputs with names, implementation.container with image, command and args (constants are quoted strings: default: '5')",
    });
  // A name becomes a folder of the step's files (and of a container's /tmp/inputs, /tmp/outputs): it may not leave it.
  for (const port of [...(parsed.data.inputs ?? []), ...(parsed.data.outputs ?? [])])
    if (/[/\\\0]/.test(port.name) || port.name === '.' || port.name === '..')
      throw new FlywheelError('COMPONENT_INVALID', `${source}: the input or output name ${JSON.stringify(port.name)} holds a path separator or is . or ..`, {
        fix: 'name inputs and outputs without / \\ and not . or ..',
      });
  // Inputs and outputs are apart (Remove_header takes `table` and writes `table`); within each, a name is one port.
  for (const [kind, ports] of [
    ['inputs', parsed.data.inputs ?? []],
    ['outputs', parsed.data.outputs ?? []],
  ] as const) {
    const names = ports.map((p) => p.name);
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice !== undefined)
      throw new FlywheelError('COMPONENT_INVALID', `${source} declares ${JSON.stringify(twice)} twice among its ${kind}`, {
        fix: `give each of its ${kind} its own name`,
      });
  }
  return parsed.data;
}

/** A component's or pipeline's YAML text parsed; a text that is not YAML is COMPONENT_INVALID, naming `source`. */
export function parseComponentYaml(text: string, source: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    throw new FlywheelError('COMPONENT_INVALID', `${source} is not YAML: ${(error as Error).message.split('\n')[0] ?? ''}`, {
      fix: 'fix the YAML (a component.yaml as Tangle and Kubeflow Pipelines v1 write it)',
    });
  }
}
