import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { attemptConfirmer } from '../../activities/heartbeat.js';
import { startTemporal, type TemporalServer } from '../support/temporal.js';

const HEARTBEAT_TIMEOUT_MS = 2000;

/** Blocks this thread's event loop, as SIGSTOP blocks a worker: nothing is read, sent or heartbeated meanwhile. */
const freeze = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('attempt confirmation (real Temporal dev server)', () => {
  let server: TemporalServer;
  beforeAll(async () => {
    // The worker's own logs (polls failing as the test ends) would only crowd the output.
    Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
    server = await startTemporal();
  }, 90_000);
  afterAll(async () => server?.stop());

  it('asks again when the answer was read after a freeze: a "yes" sent before the server handed the attempt on does not count', async () => {
    const answers: Array<{ attempt: number; current: boolean }> = [];
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) });
    const activities = {
      async confirmAcrossFreeze(): Promise<void> {
        const ctx = Context.current();
        const confirm = attemptConfirmer(ctx, HEARTBEAT_TIMEOUT_MS, () => null, log);
        if (ctx.info.attempt > 1) {
          answers.push({ attempt: ctx.info.attempt, current: await confirm() });
          return;
        }
        // The question goes out, the server answers "current" at once, and the worker freezes before it
        // reads the answer; past the heartbeat timeout the server hands the attempt on.
        const asked = confirm();
        freeze(HEARTBEAT_TIMEOUT_MS * 3);
        answers.push({ attempt: 1, current: await asked });
      },
    };
    const taskQueue = `confirm-${randomUUID()}`;
    const connection = await NativeConnection.connect({ address: server.address });
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('../fixtures/workflows/confirm-attempt.ts', import.meta.url)),
      activities,
    });
    const clientConnection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection: clientConnection });
      await worker.runUntil(client.workflow.execute('confirmAttemptWorkflow', { taskQueue, workflowId: `confirm-${randomUUID()}` }));
      expect(answers.sort((a, b) => a.attempt - b.attempt)).toEqual([
        { attempt: 1, current: false },
        { attempt: 2, current: true },
      ]);
      expect(lines).toContain('attempt no longer current: the server has handed it on');
    } finally {
      await clientConnection.close();
      await connection.close();
    }
  }, 90_000);
});
