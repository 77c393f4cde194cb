import type { Context } from '@temporalio/activity';

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
