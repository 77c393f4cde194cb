// A component's command line from its placeholders, as Tangle's launchers build it:
//   {inputValue: x}  the value of input x          {inputPath: x}   where input x's file is
//   {outputPath: y}  where output y is to be written
//   {concat: [...]}  its parts joined (absent parts left out)
//   {if: {cond, then: [...], else: [...]}}  `then` when cond is "true" (any case), else `else`
//   {isPresent: x}   "True" when input x was given, "False" otherwise (only as an `if`'s cond)
// An optional input that was not given makes its argument disappear from the line (and from a concat);
// a required one that was not given, an undeclared name or any other placeholder is an error naming it.
import { FlywheelError } from '../errors.js';
import type { CommandLineArgument, ComponentSpec } from './component-spec.js';

export interface CommandLineValues {
  /** The values of the inputs given as values, as text. */
  values: Readonly<Record<string, string>>;
  /** The paths of the inputs given as files. */
  inputPaths: Readonly<Record<string, string>>;
  /** Where each output is to be written. */
  outputPaths: Readonly<Record<string, string>>;
}

const PLACEHOLDERS = ['inputValue', 'inputPath', 'outputPath', 'concat', 'if', 'isPresent'];

function invalid(source: string, message: string, fix: string): FlywheelError {
  return new FlywheelError('COMPONENT_INVALID', `${source}: ${message}`, { fix });
}

/** The component's command and its args, each resolved (a container launcher gives them to the engine apart). */
export function resolveCommandAndArgs(
  spec: ComponentSpec,
  given: CommandLineValues,
  source: string,
  options: { checkOnly?: boolean } = {},
): { command: string[]; args: string[] } {
  const checkOnly = options.checkOnly === true;
  if (!('container' in spec.implementation)) throw invalid(source, 'is a graph component, not a container one', 'run a pipeline file with its tasks');
  const inputs = new Map((spec.inputs ?? []).map((i) => [i.name, i]));
  const outputs = new Set((spec.outputs ?? []).map((o) => o.name));
  const declared = (name: unknown, kind: string): string => {
    if (typeof name !== 'string' || !(kind === 'outputPath' ? outputs.has(name) : inputs.has(name)))
      throw invalid(
        source,
        `{${kind}: ${JSON.stringify(name)}} names no declared ${kind === 'outputPath' ? 'output' : 'input'}`,
        `declare it under ${kind === 'outputPath' ? 'outputs' : 'inputs'}, or fix the name`,
      );
    return name;
  };
  /** The input's value or path, or undefined when an optional input was not given. */
  const inputArgument = (name: string, kind: 'inputValue' | 'inputPath'): string | undefined => {
    const got = kind === 'inputValue' ? given.values[name] : given.inputPaths[name];
    if (got !== undefined || checkOnly) return got ?? '';
    if (inputs.get(name)?.optional === true) return undefined;
    throw invalid(source, `required input ${name} was given no ${kind === 'inputValue' ? 'value' : 'file'}`, `pass ${name}, or declare it optional: true`);
  };
  const isPresent = (name: string): boolean => given.values[name] !== undefined || given.inputPaths[name] !== undefined;

  /** One argument: a string, nothing (an absent optional input), or several (an `if`'s branch). */
  const expand = (argument: unknown, where: string): string[] | string | undefined => {
    if (typeof argument === 'string') return argument;
    if (typeof argument === 'number' || typeof argument === 'boolean') return String(argument);
    if (argument === null || typeof argument !== 'object' || Array.isArray(argument))
      throw invalid(source, `${where} is ${JSON.stringify(argument)}, not a string or a placeholder`, 'write constants as quoted strings');
    const keys = Object.keys(argument);
    const [kind] = keys;
    if (keys.length !== 1 || kind === undefined || !PLACEHOLDERS.includes(kind))
      throw invalid(
        source,
        `${where} uses the placeholder ${keys.map((k) => JSON.stringify(k)).join(', ') || '{}'}, which Tangle's components do not have`,
        `use one of ${PLACEHOLDERS.join(', ')} (inputUri, outputUri and executorInput are Kubeflow v2's and not supported)`,
      );
    const body = (argument as Record<string, unknown>)[kind];
    switch (kind) {
      case 'inputValue':
      case 'inputPath':
        return inputArgument(declared(body, kind), kind);
      case 'outputPath': {
        const name = declared(body, kind);
        const path = given.outputPaths[name];
        if (path === undefined && !checkOnly) throw new Error(`internal: no path for output ${name}`);
        return path ?? '';
      }
      case 'concat': {
        if (!Array.isArray(body)) throw invalid(source, `${where}: concat takes a list`, 'write {concat: [part, part, ...]}');
        return body.flatMap((part, i) => expand(part, `${where}.concat[${i}]`) ?? []).join('');
      }
      case 'if': {
        const branch = body as { cond?: unknown; then?: unknown; else?: unknown } | null;
        if (branch === null || typeof branch !== 'object' || !('cond' in branch) || !Array.isArray(branch.then))
          throw invalid(source, `${where}: if takes {cond, then: [...], else: [...]}`, 'write {if: {cond: {isPresent: x}, then: [...]}}');
        const cond = branch.cond;
        const isPresentCond = cond !== null && typeof cond === 'object' && !Array.isArray(cond) && Object.keys(cond).join() === 'isPresent';
        const value = isPresentCond
          ? String(isPresent(declared((cond as { isPresent: unknown }).isPresent, 'isPresent')) ? 'True' : 'False')
          : expand(cond, `${where}.if.cond`);
        const chosen = typeof value === 'string' && value.toLowerCase() === 'true' ? branch.then : (branch.else ?? []);
        if (!Array.isArray(chosen) || !Array.isArray(branch.else ?? [])) throw invalid(source, `${where}: if's else takes a list`, 'write else: [...]');
        // Checking, both branches are walked: a mistake in either is found before anything runs.
        const walked = checkOnly ? [...branch.then, ...((branch.else as unknown[] | undefined) ?? [])] : chosen;
        return walked.flatMap((part, i) => expand(part, `${where}.if[${i}]`) ?? []);
      }
      default:
        throw invalid(source, `${where}: isPresent is only an if's cond`, 'write {if: {cond: {isPresent: x}, then: [...]}}');
    }
  };
  const { command = [], args = [] } = spec.implementation.container;
  const resolved = {
    command: command.flatMap((argument: CommandLineArgument, i) => expand(argument, `command[${i}]`) ?? []),
    args: args.flatMap((argument: CommandLineArgument, i) => expand(argument, `args[${i}]`) ?? []),
  };
  if (resolved.command.length + resolved.args.length === 0) throw invalid(source, 'has no command to run', 'give implementation.container a command');
  return resolved;
}

/**
 * Checks a component's command line without running it: every placeholder known and well formed, every
 * name declared (both branches of every `if`), so a mistake is an error when the pipeline loads.
 */
export function checkCommandLine(spec: ComponentSpec, source: string): void {
  if ('container' in spec.implementation) resolveCommandAndArgs(spec, { values: {}, inputPaths: {}, outputPaths: {} }, source, { checkOnly: true });
}

/** The component's command line resolved: the program to run and its arguments (its command, then its args). */
export function resolveCommandLine(spec: ComponentSpec, given: CommandLineValues, source: string): string[] {
  const { command, args } = resolveCommandAndArgs(spec, given, source);
  return [...command, ...args];
}
