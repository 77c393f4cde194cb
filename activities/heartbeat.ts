import type { Context } from '@temporalio/activity';

/**
 * Heartbeats at a steady pace so a lost worker is noticed and cancellation arrives (Temporal delivers it
 * in heartbeat responses) within seconds, even when the step reports nothing. The worker throttles what
 * is actually sent (see HEARTBEAT_THROTTLE in workers/run-worker.ts). Returns the function that stops it.
 */
export function keepAlive(ctx: Context, heartbeatTimeoutMs: number, details: () => unknown): () => void {
  const timer = setInterval(() => ctx.heartbeat(details()), Math.max(500, Math.min(2000, Math.floor(heartbeatTimeoutMs / 3))));
  return () => clearInterval(timer);
}

/** Runs `work` while heartbeating; the heartbeats stop with it. */
export async function whileAlive<T>(ctx: Context, heartbeatTimeoutMs: number, details: () => unknown, work: () => Promise<T>): Promise<T> {
  const stop = keepAlive(ctx, heartbeatTimeoutMs, details);
  try {
    return await work();
  } finally {
    stop();
  }
}
