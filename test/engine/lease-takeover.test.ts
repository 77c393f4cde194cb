import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, json } from '../../index.js';
import type { CacheKey } from '../../cache/digest.js';
import type { LeaseTiming } from '../../cache/s3-lease.js';
import { S3Store } from '../../cache/s3-store.js';
import { runLocal } from '../../engine/drivers/local-executor.js';
import { validatePipeline } from '../../engine/validate/validate.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { memoryLogger } from '../support/in-process.js';
import { tempDir } from '../support/temp-dir.js';

// A holder that is paused (SIGSTOP, a frozen VM) past its lease's lifetime loses the key to another
// machine, which computes it and stores its result. When the first wakes up and finishes, its result must
// not replace the new holder's: whoever read that entry meanwhile would see it change under them.

let minio: MinioServer;

beforeAll(async () => {
  minio = await startMinio();
  Object.assign(process.env, minio.env);
}, 60_000);

afterAll(async () => {
  await minio?.stop();
});

/** Leases taken over after 600 ms without a renewal. The paused machine never renews within the test. */
const QUICK: LeaseTiming = { renewMs: 100, staleAfterMs: 600, pollMs: 25 };
const PAUSED: LeaseTiming = { renewMs: 60_000, staleAfterMs: 600, pollMs: 25 };

describe('a key taken over from a paused holder', () => {
  it('keeps the new holder’s result: the paused one, when it finishes, does not store over it', async () => {
    await minio.createBucket('takeover');
    const machine = async (leaseTiming: LeaseTiming): Promise<S3Store> =>
      new S3Store({ bucket: 'takeover', prefix: 'team' }, { localRoot: await tempDir('flywheel-takeover'), leaseTiming });
    const [paused, other] = [await machine(PAUSED), await machine(QUICK)];

    // The first execution waits until the test lets it go (its "pause"); the second runs at once.
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    let executions = 0;
    const step = defineStep({
      id: 'takeover-step',
      version: 1,
      outputs: { out: json(z.object({ execution: z.number() })) },
      async run() {
        const execution = ++executions;
        if (execution === 1) await woken;
        return { out: { execution } };
      },
    });
    const pipeline = validatePipeline(definePipeline({ name: 'takeover', build: (p) => void p.add(step, { id: 'only' }) }));

    const first = memoryLogger('warn');
    const pausedRun = runLocal(pipeline, { store: paused, logger: first.logger });
    while (executions === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // On one host a live pid keeps its lease however long it is paused; across hosts only renewals do.
    // The paused holder's lease is made to name another host, as a frozen VM's would.
    const listed = await minio.client.send(new ListObjectsV2Command({ Bucket: 'takeover', Prefix: 'team/locks/' }));
    const lock = listed.Contents?.[0]?.Key as string;
    const body = JSON.parse(await (await minio.client.send(new GetObjectCommand({ Bucket: 'takeover', Key: lock }))).Body!.transformToString()) as {
      host: string;
    };
    await minio.client.send(new PutObjectCommand({ Bucket: 'takeover', Key: lock, Body: JSON.stringify({ ...body, host: 'a-frozen-vm' }) }));
    // The other machine finds the key held, waits until the lease goes stale, takes it over and stores its result.
    const otherRun = await runLocal(pipeline, { store: other, logger: memoryLogger('warn').logger });
    expect(otherRun.steps[0]).toMatchObject({ status: 'executed' });
    const key = otherRun.steps[0]?.cacheKey as CacheKey;
    const stored = await other.getAction(key);
    expect(stored).toMatchObject({ runId: otherRun.runId });

    wake();
    const pausedRecord = await pausedRun;
    expect(pausedRecord.steps[0]).toMatchObject({ status: 'executed' });
    // The entry is still the new holder's, and the paused one said why it stored nothing.
    expect(await paused.getAction(key)).toMatchObject({ runId: otherRun.runId });
    expect(first.lines().some((line) => String(line.msg).includes('the claim on this key was taken over while this execution ran'))).toBe(true);
  }, 60_000);
});
