import type { z } from 'zod';

/** A file input or output. Downstream steps receive it under `fileName` (default: the port name). */
export interface FilePort<Optional extends boolean = boolean> {
  readonly kind: 'file';
  readonly optional: Optional;
  readonly fileName?: string;
  readonly description?: string;
}

/** A directory input or output, stored as a manifest of its files. */
export interface DirPort<Optional extends boolean = boolean> {
  readonly kind: 'dir';
  readonly optional: Optional;
  readonly description?: string;
}

/** A JSON value input or output, validated by its zod schema on the way out and on the way in. */
export interface JsonPort<T = unknown, Optional extends boolean = boolean> {
  readonly kind: 'json';
  readonly optional: Optional;
  readonly schema: z.ZodType<T>;
  readonly description?: string;
}

export type Port = FilePort | DirPort | JsonPort;
export type PortKind = Port['kind'];
export type Ports = Record<string, Port>;

interface PortOptions<Optional extends boolean> {
  /** An input that may be left unconnected; the step then receives `undefined`. */
  optional?: Optional;
  description?: string;
}

/**
 * Declares a file port.
 * @example
 * outputs: { report: file({ fileName: 'report.md' }) }
 */
export function file<const Optional extends boolean = false>(options: PortOptions<Optional> & { fileName?: string } = {}): FilePort<Optional> {
  return { kind: 'file', optional: (options.optional ?? false) as Optional, ...withoutOptional(options) };
}

/**
 * Declares a directory port.
 * @example
 * outputs: { checkpoint: dir() }
 */
export function dir<const Optional extends boolean = false>(options: PortOptions<Optional> = {}): DirPort<Optional> {
  return { kind: 'dir', optional: (options.optional ?? false) as Optional, ...withoutOptional(options) };
}

/**
 * Declares a JSON port carrying values of the schema's type.
 * @example
 * outputs: { metrics: json(z.object({ accuracy: z.number() })) }
 */
export function json<S extends z.ZodType, const Optional extends boolean = false>(
  schema: S,
  options: PortOptions<Optional> = {},
): JsonPort<z.output<S>, Optional> {
  return { kind: 'json', optional: (options.optional ?? false) as Optional, schema: schema as z.ZodType<z.output<S>>, ...withoutOptional(options) };
}

function withoutOptional<T extends { optional?: unknown }>(options: T): Omit<T, 'optional'> {
  const { optional: _ignored, ...rest } = options;
  return rest;
}

/** What `run` receives for an input: a path for files and directories, the parsed value for JSON. */
export type InputValue<P extends Port> = (P extends JsonPort<infer T> ? T : string) | (P['optional'] extends true ? undefined : never);

/** Ports whose results are files on disk; `run` gets a path to write each one to. */
// `[O[K]] extends [never]` keeps a port-less step (ports typed Record<string, never>) from matching everything.
export type PathPortNames<O extends Ports> = { [K in keyof O]: [O[K]] extends [never] ? never : O[K] extends JsonPort ? never : K }[keyof O];
export type JsonPortNames<O extends Ports> = { [K in keyof O]: [O[K]] extends [never] ? never : O[K] extends JsonPort ? K : never }[keyof O];
