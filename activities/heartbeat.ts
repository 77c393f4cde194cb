import { hostname } from 'node:os';
import type { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
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

/** What the confirmer reports: each answer at debug level (the kept logs of a soak read them), and answers it could not read. */
type ConfirmLog = Pick<Logger, 'debug' | 'warn'>;

/**
 * Asks the server whether this activity attempt is still the one it waits for, before a step starts
 * executing: a worker frozen past the heartbeat timeout (a paused VM, a long stop) wakes holding
 * attempts the server has timed out and handed to another delivery, and starting their work would pay
 * for it twice (ctx.heartbeat cannot tell: it sends later and answers nothing). The question is a heartbeat
 * recorded and answered at once, with the details the attempt would send anyway, so it also renews the
 * attempt.
 *
 * An answer holds for a third of the heartbeat timeout counted from when the question was sent, so a
 * chunk's elements do not each pay a round trip, and an answer read after a freeze (sent before it) is
 * already stale and asked again. Only a definite "no" (the attempt is gone, or its cancellation was
 * requested) stops the work: a server that does not answer within 2 s leaves it to the key's lease, and
 * counts as yes for the same while, so the next element does not wait on it again.
 */
export function attemptConfirmer(ctx: Context, heartbeatTimeoutMs: number, details: () => unknown, log: ConfirmLog): () => Promise<boolean> {
  const holdsForMs = heartbeatTimeoutMs / 3;
  let askedAt: number | undefined;
  let current = true;
  let asking: Promise<void> | undefined;
  const attempt = { activityId: ctx.info.activityId, attempt: ctx.info.attempt };
  const ask = async (): Promise<void> => {
    const { client } = ctx;
    const sentAt = Date.now();
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
      if (answer === 'late') {
        log.warn({ ...attempt, waitedMs: Date.now() - sentAt }, 'the server did not say in time whether this attempt is still current; going ahead');
        askedAt = Date.now();
      } else {
        current = !answer.cancelRequested;
        askedAt = sentAt;
        log.debug({ ...attempt, sentAt: new Date(sentAt).toISOString(), answeredInMs: Date.now() - sentAt, current }, 'attempt confirmed');
      }
    } catch (error) {
      if (isNotFound(error)) {
        current = false;
        log.debug({ ...attempt, sentAt: new Date(sentAt).toISOString(), current }, 'attempt no longer current: the server has handed it on');
      } else {
        log.warn({ ...attempt, err: error }, 'could not ask the server whether this attempt is still current; going ahead');
      }
      askedAt = Date.now();
    } finally {
      clearTimeout(timer);
      recorded.catch(() => undefined); // answered late, or not at all: nobody waits for it
    }
  };
  const fresh = (): boolean => askedAt !== undefined && Date.now() - askedAt < holdsForMs;
  return async () => {
    // Twice at most: a second answer that is stale too means a clock or a server that is too slow to
    // tell, and the key's lease keeps the result single.
    for (let round = 0; round < 2 && current && !fresh(); round++) {
      asking ??= ask().finally(() => (asking = undefined));
      await asking;
    }
    return current;
  };
}
