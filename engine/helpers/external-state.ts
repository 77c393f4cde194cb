import { readFile } from 'node:fs/promises';
import { sha256Bytes } from '../../cache/digest.js';
import type { OutputRecord } from '../../cache/records.js';
import { FlywheelError } from '../errors.js';
import type { ResolvedNode } from '../validate/validate.js';

/**
 * The step's outside state for its cache key (its `external` hook), or undefined when it declares
 * none. The hook sees the config and the digests of the inputs (not their contents: nothing is
 * materialized for a look-up).
 */
export async function externalState(
  node: ResolvedNode,
  upstreamOutputs: (nodeId: string) => Record<string, OutputRecord> | undefined,
  /** A map element's own input digests (its item, batch or file), over those of the upstream outputs. */
  own: Readonly<Record<string, string>> = {},
): Promise<unknown> {
  if (node.step.external === undefined) return undefined;
  const digests: Record<string, string | undefined> = {};
  for (const [name, source] of Object.entries(node.inputs))
    digests[name] = own[name] ?? (source === null ? undefined : upstreamOutputs(source.node)?.[source.output]?.digest);
  try {
    return (await node.step.external(node.config, digests)) ?? null;
  } catch (error) {
    throw new FlywheelError(
      'EXTERNAL_STATE_FAILED',
      `step ${node.id}: could not read the outside state its cache key depends on: ${(error as Error).message}`,
      {
        fix: 'check what the step reads (e.g. its source path) exists and is readable',
        cause: error,
      },
    );
  }
}

/** A file as outside state for an `external` hook: `sha256:<hex>` of its bytes, or `missing`. */
export async function fileState(path: string): Promise<string> {
  try {
    return `sha256:${sha256Bytes(await readFile(path))}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}
