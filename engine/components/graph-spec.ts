// A Tangle / Kubeflow Pipelines v1 pipeline's graph (`implementation.graph` of a `*.pipeline.component.yaml`):
// tasks that reference components, and the arguments that wire them. Read as Tangle reads it: constants
// are strings, unknown fields are ignored. Also where a task's component comes from (componentRef).
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { zodIssues } from '../../cache/errors.js';
import { FlywheelError } from '../errors.js';
import { componentFromSpec, readComponent, readComponentFile, type LoadedComponent } from './component-spec.js';

export const TaskOutputArgument = z.object({ taskOutput: z.object({ taskId: z.string(), outputName: z.string() }) });
export const GraphInputArgument = z.object({ graphInput: z.object({ inputName: z.string() }) });
export const DynamicDataArgument = z.object({ dynamicData: z.union([z.string(), z.record(z.string(), z.unknown())]) });
/** A task's argument: a constant (always text), a graph input, another task's output, or data the launcher supplies (a secret). */
export const Argument = z.union([z.string(), TaskOutputArgument, GraphInputArgument, DynamicDataArgument]);
export type Argument = z.infer<typeof Argument>;

export const ComponentReference = z.object({
  name: z.string().optional(),
  digest: z.string().optional(),
  tag: z.string().optional(),
  url: z.string().optional(),
  spec: z.unknown().optional(),
  text: z.string().optional(),
});
export type ComponentReference = z.infer<typeof ComponentReference>;

export const TaskSpec = z.object({
  componentRef: ComponentReference,
  arguments: z.record(z.string(), Argument).optional(),
  isEnabled: Argument.optional(),
  executionOptions: z
    .object({
      retryStrategy: z.object({ maxRetries: z.number().int().nonnegative().optional() }).optional(),
      cachingStrategy: z.object({ maxCacheStaleness: z.string().optional() }).optional(),
    })
    .optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
});
export type TaskSpec = z.infer<typeof TaskSpec>;

export const GraphSpec = z.object({
  tasks: z.record(z.string(), TaskSpec),
  outputValues: z.record(z.string(), Argument).optional(),
});
export type GraphSpec = z.infer<typeof GraphSpec>;

/** A graph component's graph, checked; `where` names it in messages. */
export function readGraph(value: unknown, where: string): GraphSpec {
  const parsed = GraphSpec.safeParse(value);
  if (!parsed.success)
    throw new FlywheelError('PIPELINE_SPEC_INVALID', `${where}: the graph is not a Tangle graph: ${zodIssues(parsed.error)}`, {
      fix: "write implementation.graph.tasks as Tangle does: each task a componentRef and arguments (constants as quoted strings, e.g. '0.8')",
    });
  return parsed.data;
}

/** The file a component url names on this machine: a relative path (from the pipeline's folder) or a file: URL; undefined for http(s). */
function localComponentFile(url: string, pipelineDir: string): string | undefined {
  if (url.startsWith('file:')) return fileURLToPath(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return undefined;
  return isAbsolute(url) ? url : resolve(pipelineDir, url);
}

/**
 * The component a task references, from what its componentRef carries: its `text` (checked against its
 * `digest`), else its inline `spec`, else a `url` naming a file on this machine. Nothing is downloaded:
 * a reference by an http(s) url alone is an error saying how to bring the component along.
 */
export function referencedComponent(ref: ComponentReference, where: string, pipelinePath: string): LoadedComponent {
  const checkDigest = (loaded: LoadedComponent): LoadedComponent => {
    if (ref.digest !== undefined && ref.digest !== loaded.digest)
      throw new FlywheelError(
        'COMPONENT_DIGEST_MISMATCH',
        `${where}: componentRef.digest is ${ref.digest}, but its component's text has the digest ${loaded.digest}`,
        {
          fix: 'the text was edited after the digest was taken (or the digest belongs to another component): set digest to the text’s SHA-256, or restore the text',
        },
      );
    return loaded;
  };
  if (ref.text !== undefined) return checkDigest(readComponent(ref.text, where));
  // A spec has no text to check a digest against (Tangle's editor hashes the file it came from).
  if (ref.spec !== undefined) return componentFromSpec(ref.spec, where);
  if (ref.url !== undefined) {
    const path = localComponentFile(ref.url, dirname(pipelinePath));
    if (path === undefined)
      throw new FlywheelError('COMPONENT_NOT_FOUND', `${where}: the component is only named by ${ref.url}, and Flywheel does not download components`, {
        fix: 'put the component in the pipeline file (componentRef.text, as Tangle’s editor saves it), or save it beside the pipeline and name it by a relative url',
      });
    return checkDigest(readComponentFile(path, `${where}: `, 'fix componentRef.url (relative to the pipeline file)'));
  }
  throw new FlywheelError('COMPONENT_NOT_FOUND', `${where}: componentRef has no text, spec or url to find the component by`, {
    fix: 'give it the component’s text (componentRef.text) or spec (componentRef.spec)',
  });
}
