import type { DirPort, FilePort, Port, Ports } from './ports.js';

/** How a node fans out: the input fed one element (an item, or a batch of items) at a time, and how failures are tolerated. */
export interface MapSpec {
  /** The step's input that receives each element; the pipeline wires the whole collection to it. */
  over: string;
  /** Items per element; above 1 the input receives an array of up to this many. */
  batchSize: number;
  /** Share of elements that must succeed for the collection to be stored (1 = all). */
  minSuccessRatio: number;
}

/** The kind of output a map collects from its elements' outputs of each kind. */
export type CollectedPort<P extends Port> = P extends DirPort | FilePort ? DirPort<false> : FilePort<false>;

/** The file name of a JSON output collected as JSON Lines. */
export const collectionFileName = (output: string): string => `${output}.jsonl`;

/**
 * A map node's outputs, per the step's output kinds: a JSON output becomes a JSON Lines file (one line
 * per element, in order), a file or directory output becomes a directory with one entry per element.
 */
export function collectedPorts(outputs: Ports): Ports {
  const ports: Ports = {};
  for (const [name, port] of Object.entries(outputs)) {
    const description = port.description === undefined ? {} : { description: port.description };
    ports[name] =
      port.kind === 'json'
        ? ({ kind: 'file', optional: false, fileName: collectionFileName(name), ...description } satisfies FilePort)
        : ({ kind: 'dir', optional: false, ...description } satisfies DirPort);
  }
  return ports;
}

/** A node's own outputs: the step's, or for a map node the collections it assembles. */
export function nodeOutputPorts(node: { step: { outputs: unknown }; map?: MapSpec | undefined }): Ports {
  const outputs = node.step.outputs as Ports;
  return node.map === undefined ? outputs : collectedPorts(outputs);
}
