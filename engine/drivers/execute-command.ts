import { classifyError } from '../../cache/errors.js';
import type { ExecuteOutcome } from '../core/outcome.js';
import type { CommandOf, CoreEvent, ElementResult } from '../core/run-protocol.js';
import { executeOnce, type ExecuteOnceRequest } from '../execute/execute-once.js';
import { assembleMap } from '../map/assemble-map.js';
import { executeElements } from '../map/execute-elements.js';
import { checkedKeyOf } from '../keys/node-key.js';
import type { ResolvedNode } from '../validate/validate.js';

type ExecuteCommand = Omit<CommandOf<'execute'>, 'type'>;
type ExecuteElementsCommand = Omit<CommandOf<'execute-elements'>, 'type'>;

/** Where and how a command is carried out: the same for the local executor and a Temporal worker, but for `wait`. */
export type CommandContext = Pick<
  ExecuteOnceRequest,
  'runId' | 'store' | 'env' | 'log' | 'signal' | 'wait' | 'waitedFor' | 'onWait' | 'onProgress' | 'span' | 'confirmAttempt'
> & {
  /** A checkpoint newer than the command's (a lost Temporal attempt's heartbeat). */
  resume?: unknown;
  /**
   * `verify` (a worker): the key is made again from this process's code and must be the run's. `trust`:
   * this very process resolved it moments ago from the same code (the local executor).
   */
  key: 'verify' | 'trust';
};

/**
 * Carries out an `execute` command of the run core: on a worker the key is first checked against this
 * process's code, then one attempt is executed once across every process sharing the store. Never
 * throws: an error around the execution is a failed outcome, which this logs (an execution logs its own
 * end, into its captured log too).
 */
export async function executeCommand(node: ResolvedNode, command: ExecuteCommand, context: CommandContext): Promise<ExecuteOutcome> {
  const upstream = (id: string) => command.upstream[id];
  const resume = context.resume ?? command.resume;
  let outcome: ExecuteOutcome;
  try {
    const { components } = context.key === 'verify' ? checkedKeyOf(node, upstream, context.env, command) : command;
    outcome = await executeOnce({
      node,
      key: command.key,
      components,
      lookAgain: command.lookAgain,
      attempt: command.attempt,
      ...(resume === undefined ? {} : { resume }),
      ...(command.logs === undefined ? {} : { logsBefore: command.logs }),
      runId: context.runId,
      upstream,
      upstreamKey: (id) => command.upstreamKeys[id],
      ...(command.lineage === undefined ? {} : { lineage: command.lineage }),
      ...(command.spentBefore === undefined ? {} : { spentBefore: command.spentBefore }),
      store: context.store,
      env: context.env,
      log: context.log,
      signal: context.signal,
      wait: context.wait,
      ...(context.waitedFor === undefined ? {} : { waitedFor: context.waitedFor }),
      ...(context.onWait === undefined ? {} : { onWait: context.onWait }),
      ...(context.onProgress === undefined ? {} : { onProgress: context.onProgress }),
      ...(context.span === undefined ? {} : { span: context.span }),
      ...(context.confirmAttempt === undefined ? {} : { confirmAttempt: context.confirmAttempt }),
    });
  } catch (error) {
    outcome = { kind: 'failed', error: classifyError(error), shared: false };
  }
  if (outcome.kind === 'failed' && outcome.logs === undefined)
    context.log.error({ code: outcome.error.code, err: outcome.error.message, shared: outcome.shared }, 'step failed');
  return outcome;
}

/** Carries out an `execute-elements` command: each element one attempt, each on its own (see executeElements). */
export function executeElementsCommand(
  node: ResolvedNode,
  command: ExecuteElementsCommand,
  context: Omit<CommandContext, 'wait'> & { onResult?: (result: ElementResult) => void },
): Promise<ElementResult[]> {
  return executeElements({
    node,
    key: command.key,
    components: command.components,
    indices: command.indices,
    attempts: command.attempts,
    lookAgain: command.lookAgain,
    runId: context.runId,
    upstream: command.upstream,
    upstreamKeys: command.upstreamKeys,
    store: context.store,
    env: context.env,
    log: context.log,
    signal: context.signal,
    checkKey: context.key === 'verify',
    parallel: command.parallel,
    ...(context.confirmAttempt === undefined ? {} : { confirmAttempt: context.confirmAttempt }),
    ...(context.onResult === undefined ? {} : { onResult: context.onResult }),
  });
}

/** Carries out an `assemble` command: the map's collection stored, or why it could not be (logged), as the event for the core. */
export async function assembleCommand(
  node: ResolvedNode,
  command: Omit<CommandOf<'assemble'>, 'type'>,
  context: Pick<CommandContext, 'runId' | 'store' | 'env' | 'log' | 'key'>,
): Promise<CoreEvent> {
  try {
    const { runId, store, env } = context;
    const { outputs, keys } = await assembleMap({ ...command, node, runId, store, env, checkKey: context.key === 'verify' });
    return { type: 'assembled', id: command.id, outputs, keys };
  } catch (error) {
    const { code, message } = classifyError(error);
    context.log.error({ stepId: command.id, code, err: message }, 'map could not be assembled');
    return { type: 'failed', id: command.id, error: { code, message } };
  }
}
