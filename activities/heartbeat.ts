import { hostname } from 'node:os';
import type { Context } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';

/**
 * Runs `work` while heartbeating at a steady pace, so a lost worker is noticed and cancellation arrives
 * (Temporal delivers it in heartbeat responses) within seconds, even when the step reports nothing. The
 * worker throttles what is actually sent (see HEARTBEAT_THROTTLE in workers/run-worker.ts).
 */
export async function whileAlive<T>(ctx: Context, heartbeatTimeoutMs: number, details: () => unknown, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => ctx.heartbeat(details()), Math.max(500, Math.min(2000, Math.floor(heartbeatTimeoutMs / 3))));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** gRPC's NOT_FOUND: the server no longer has this attempt (timed out and retried, or its workflow ended). */
const NOT_FOUND = 5;
/** Whether the server said the attempt is gone: NOT_FOUND, on the error or under it (the native client wraps it). */
function isNotFound(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e !== undefined && e !== null && depth < 4;
    e = e.cause as typeof e, depth++
  ) {
    if (e.code === NOT_FOUND) return true;
    if (typeof e.message === 'string' && /\bNOT_FOUND\b|activity not found|already timed out/i.test(e.message)) return true;
  }
  return false;
}

/** How long a confirmation may take before the work goes ahead on the key's lease alone. */
const CONFIRM_WITHIN_MS = 2000;

/**
 * Asks the server whether this activity attempt is still the one it waits for, before a step starts
 * executing: a worker frozen past the heartbeat timeout (a paused VM, a long stop) wakes holding
 * attempts the server has timed out and handed to another delivery, and starting their work would pay
 * for it twice (ctx.heartbeat cannot tell: it sends later and answers nothing). The question is a heartbeat
 * recorded and answered at once, with the details the attempt would send anyway, so it also renews the
 * attempt. Asked again only once the last answer is older than a third of the heartbeat timeout, so a
 * chunk's elements do not each pay a round trip. Only a definite "no" (the attempt is gone, or its
 * cancellation was requested) stops the work: a server that does not answer within 2 s leaves it to the
 * key's lease.
 */
export function attemptConfirmer(
  ctx: Context,
  heartbeatTimeoutMs: number,
  details: () => unknown,
  onUnknown: (error: unknown) => void = () => undefined,
): () => Promise<boolean> {
  let confirmedAt: number | undefined;
  let current = true;
  let asking: Promise<boolean> | undefined;
  const ask = async (): Promise<boolean> => {
    const { client } = ctx;
    const recorded = client.workflowService.recordActivityTaskHeartbeat({
      namespace: client.options.namespace,
      taskToken: ctx.info.taskToken,
      details: { payloads: [defaultPayloadConverter.toPayload(details())] },
      identity: `${process.pid}@${hostname()}`,
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CONFIRM_WITHIN_MS)));
    try {
      const answer = await Promise.race([recorded, late]);
      if (answer !== 'late') current = !answer.cancelRequested;
    } catch (error) {
      if (isNotFound(error)) current = false;
      else onUnknown(error);
    } finally {
      clearTimeout(timer);
      recorded.catch(() => undefined); // answered late, or not at all: nobody waits for it
    }
    // No answer counts as yes for the same while: the next element does not wait again on a server that is down.
    confirmedAt = Date.now();
    return current;
  };
  return async () => {
    if (!current) return false;
    if (confirmedAt !== undefined && Date.now() - confirmedAt < heartbeatTimeoutMs / 3) return true;
    asking ??= ask().finally(() => (asking = undefined));
    return asking;
  };
}
