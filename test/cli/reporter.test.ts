import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RunReporter } from '../../cli/terminal/reporter.js';

/** Carriage return and "erase line": how the reporter clears its status line. */
const CLEAR_LINE = '\r\u001b[2K';

/** A terminal as the reporter sees it: a stream that says it is a TTY, recording every write in order. */
function terminal(): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100 }) as unknown as NodeJS.WriteStream;
  stream.write = ((chunk: string) => writes.push(String(chunk)) > 0) as NodeJS.WriteStream['write'];
  return { stream, writes };
}

describe('the live display on a terminal', () => {
  it('clears the status line before a log line and draws it again after, so the two never share a line', async () => {
    const out = terminal();
    const err = terminal();
    const reporter = new RunReporter(out.stream, true);
    reporter.onEvent({ type: 'run-started', runId: 'r1', pipeline: 'p', steps: ['slow'] });
    reporter.onEvent({ type: 'step-running', id: 'slow', reason: 'first run' });
    await new Promise((resolve) => setTimeout(resolve, 400)); // the status line is drawn every 250 ms
    expect(out.writes.at(-1)?.startsWith(`${CLEAR_LINE}  running: slow `)).toBe(true);
    reporter.logSink(err.stream).write(`${JSON.stringify({ level: 40, stepId: 'slow', msg: 'rate limited', retryInMs: 500 })}\n`);
    // The status line was cleared on stdout, the log line written on stderr, then the status line redrawn.
    expect(out.writes.lastIndexOf(CLEAR_LINE)).toBeGreaterThan(0);
    expect(err.writes).toEqual(['  ! slow: warning: rate limited (retryInMs=500)\n']);
    expect(out.writes.at(-1)?.startsWith(`${CLEAR_LINE}  running: slow `)).toBe(true);
    reporter.onEvent({
      type: 'run-finished',
      run: { runId: 'r1', pipeline: 'p', status: 'succeeded', steps: [], durationMs: 1 } as never,
    });
  });
});
