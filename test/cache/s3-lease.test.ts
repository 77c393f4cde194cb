import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { LeaseTiming } from '../../cache/s3-lease.js';
import { S3Store } from '../../cache/s3-store.js';
import { keyOf, runIdAt, runRecord, stepRecord } from './helpers.js';
import { startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

let minio: MinioServer;
let bucketCount = 0;

beforeAll(async () => {
  minio = await startMinio();
});

afterAll(async () => {
  await minio?.stop();
});

/** Quick leases, so staleness shows in a test: renewed every 100 ms, taken over after 600 ms unchanged. */
const QUICK: LeaseTiming = { renewMs: 100, staleAfterMs: 600, pollMs: 25 };

/** Two "machines" (each its own local directory) on one fresh bucket. */
async function twoMachines(): Promise<[S3Store, S3Store, string]> {
  const bucket = `lease-test-${process.pid}-${++bucketCount}`;
  await minio.createBucket(bucket);
  Object.assign(process.env, minio.env);
  const machine = async (): Promise<S3Store> =>
    new S3Store({ bucket, prefix: 'team' }, { localRoot: await tempDir('flywheel-s3-machine'), leaseTiming: QUICK });
  return [await machine(), await machine(), bucket];
}

describe('leases on keys in a shared bucket (real MinIO)', () => {
  it('lets one machine hold a key; the other is told who holds it, or waits and shares its failure', async () => {
    const [a, b] = await twoMachines();
    const key = keyOf('train');
    const held = await a.claimKey(key, { wait: false });
    if (!held.claimed) throw new Error('the first claim must succeed');
    const refused = await b.claimKey(key, { wait: false });
    expect(refused).toMatchObject({ claimed: false, holder: { description: expect.stringMatching(/^pid \d+ on /) } });

    const waiting = b.claimKey(key, { wait: true });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the holder renews meanwhile: still held
    await held.lease.release({ code: 'STEP_FAILED', message: 'train diverged' });
    const waited = await waiting;
    expect(waited).toMatchObject({ claimed: true, sharedFailure: { code: 'STEP_FAILED', message: 'train diverged' } });
    if (waited.claimed) await waited.lease.release();

    // A machine that never waited for that holder gets the key to itself.
    const fresh = await a.claimKey(key, { wait: false });
    expect(fresh.claimed && fresh.sharedFailure === undefined).toBe(true);
    if (fresh.claimed) await fresh.lease.release();
  });

  it('takes over a lease whose holder on another host stopped renewing it, and never one that is renewed', async () => {
    const [a, b, bucket] = await twoMachines();
    const live = keyOf('live');
    const held = await a.claimKey(live, { wait: false });
    expect(held.claimed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // longer than staleAfterMs: renewals keep it
    expect((await b.claimKey(live, { wait: false })).claimed).toBe(false);
    if (held.claimed) await held.lease.release();

    // A lease written by a machine that died: nobody renews it.
    const dead = keyOf('dead');
    const body = JSON.stringify({ host: 'a-host-that-died', pid: 4242, token: 'dead-token', since: new Date().toISOString() });
    await minio.client.send(new PutObjectCommand({ Bucket: bucket, Key: `team/locks/${dead}`, Body: body }));
    const started = Date.now();
    const taken = await b.claimKey(dead, { wait: true, onWait: () => undefined });
    expect(taken.claimed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(QUICK.staleAfterMs);
    if (taken.claimed) await taken.lease.release();
  });

  it("journals a running run's steps beside its record and folds them in when the run is written whole", async () => {
    const [a, b, bucket] = await twoMachines();
    const runId = runIdAt(7);
    const pending = (id: string) => ({ id, step: id, status: 'pending' as const, reasonCodes: [], reason: 'not reached', outputs: {} });
    await a.putRun(runRecord({ runId, pipeline: 'p', status: 'running', steps: [pending('one'), pending('two')] }));
    await a.appendRunSteps(runId, [stepRecord('one', keyOf('one'), {})]);
    const midway = await b.getRun(runId);
    expect(midway?.steps.map((s) => [s.id, s.status])).toEqual([
      ['one', 'executed'],
      ['two', 'pending'],
    ]);
    await a.putRun(runRecord({ runId, pipeline: 'p', status: 'succeeded', steps: [stepRecord('one', keyOf('one'), {}), stepRecord('two', keyOf('two'), {})] }));
    const done = await b.getRun(runId);
    expect(done?.status).toBe('succeeded');
    const left = await minio.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `team/run-journals/${runId}/` }));
    expect(left.Contents ?? []).toEqual([]);
  });
});
