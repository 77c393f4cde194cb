import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FlowWorkflow } from '../../steps/flow-agent/flow-workflow.js';
import type { ProductionRecord } from '../../steps/flow-agent/production-record.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { FIXTURES, runCli, runJson, statuses } from '../support/cli.js';
import { startMinio } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

const pipeline = join(FIXTURES, 'flow-collect.ts');

function workflow(tag: string): FlowWorkflow {
  return {
    name: `tag ${tag}`,
    steps: [
      { step_id: 't', task_id: 'shopify::admin::order_created', task_type: 'TRIGGER', config: {} },
      { step_id: 'a', task_id: 'shopify::admin::add_order_tags', task_type: 'ACTION', config: { tags: [tag] } },
    ],
    links: [{ from: 't', port: 'output', to: 'a' }],
  };
}

function record(id: string, merchant: string, lastRun: string | null, flow: FlowWorkflow): ProductionRecord {
  return { workflow_id: id, merchant_id: merchant, version: 1, kind: 'create', created_at: '2026-01-01T00:00:00Z', last_run_at: lastRun, workflow: flow };
}

const asOf = '2026-11-23T00:00:00.000Z';
const recent = (daysAgo: number): string => new Date(Date.parse(asOf) - daysAgo * 86_400_000).toISOString();

describe('flow-agent collect', () => {
  it('keeps valid workflows run in the window, from merchants with two of them, one per descriptor, and accounts for the rest', async () => {
    const cwd = await tempDir('flow-collect');
    const exportPath = join(cwd, 'export.jsonl');
    const rows = [
      record('a1', 'merchant-a', recent(0), workflow('VIP')),
      record('a2', 'merchant-a', recent(3), workflow('gift')),
      record('b1', 'merchant-b', recent(1), workflow('VIP')), // same automation as a1: one per descriptor (a1 ran later)
      record('b2', 'merchant-b', recent(2), workflow('b2b')),
      record('c1', 'merchant-c', recent(1), workflow('solo')), // merchant with only one recent workflow
      record('c2', 'merchant-c', recent(20), workflow('old')), // outside the 7-day window
      record('d1', 'merchant-d', null, workflow('never')), // never ran
      record('d2', 'merchant-d', recent(1), { ...workflow('broken'), links: [] }), // invalid: action unreachable
    ];
    await writeFile(exportPath, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n{"not": "a record"}\n`);
    const env = { FLYWHEEL_TEST_FLOW_EXPORT: exportPath };
    const first = await runJson(pipeline, [], { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const kept = (await runCli(['output', 'collect.workflows'], { cwd, env })).stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as ProductionRecord).workflow_id);
    expect(kept).toEqual(['a1', 'a2', 'b2']);
    const report = JSON.parse((await runCli(['output', 'collect.report'], { cwd, env })).stdout) as Record<string, unknown>;
    expect(report).toEqual({ asOf, total: 9, malformed: 1, invalid: 1, notRecent: 2, merchantTooSmall: 1, duplicateDescriptor: 1, kept: 3, merchants: 2 });

    // An unchanged export (same bytes: its digest is in the snapshot's key) is a cache hit all the way.
    const again = await runJson(pipeline, [], { cwd, env });
    expect(statuses(again.run)).toEqual({ snapshot: 'cached', collect: 'cached' });
    // New production data means new training data.
    await appendFile(exportPath, `${JSON.stringify(record('e1', 'merchant-b', recent(0), workflow('new')))}\n`);
    const changed = await runJson(pipeline, [], { cwd, env });
    expect(statuses(changed.run)).toEqual({ snapshot: 'executed', collect: 'executed' });
    expect(changed.run.steps[0]?.reasonCodes).toEqual(['external-changed']);
    expect(changed.run.steps[0]?.reason).toContain('outside state changed');
    expect(changed.run.steps[1]?.reasonCodes).toEqual(['upstream-changed']);
    // A wider window is a config change: only collect re-runs.
    const wider = await runJson(pipeline, ['--set', 'collect.days=30'], { cwd, env });
    expect(statuses(wider.run)).toEqual({ snapshot: 'cached', collect: 'executed' });
    expect(JSON.parse((await runCli(['output', 'collect.report'], { cwd, env })).stdout)).toMatchObject({ kept: 6 });
  });

  it('reads the export from an S3 prefix (a real MinIO), keyed by its objects ETags', async () => {
    const minio = await startMinio();
    try {
      await minio.createBucket('flow-exports');
      const put = (key: string, rows: ProductionRecord[]) =>
        minio.client.send(new PutObjectCommand({ Bucket: 'flow-exports', Key: key, Body: rows.map((r) => `${JSON.stringify(r)}\n`).join('') }));
      await put('weekly/part-1.jsonl', [record('a1', 'merchant-a', recent(0), workflow('VIP')), record('a2', 'merchant-a', recent(1), workflow('gift'))]);
      await put('weekly/part-2.jsonl', [record('b1', 'merchant-b', recent(1), workflow('b2b')), record('b2', 'merchant-b', recent(2), workflow('wholesale'))]);
      await put('weekly/readme.txt', []);
      const cwd = await tempDir('flow-collect-s3');
      const env = { ...minio.env, FLYWHEEL_TEST_FLOW_EXPORT: 's3://flow-exports/weekly' };
      const first = await runJson(pipeline, [], { cwd, env });
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse((await runCli(['output', 'collect.report'], { cwd, env })).stdout)).toMatchObject({ total: 4, kept: 4, merchants: 2 });
      expect(statuses((await runJson(pipeline, [], { cwd, env })).run)).toEqual({ snapshot: 'cached', collect: 'cached' });
      await put('weekly/part-3.jsonl', [record('c1', 'merchant-c', recent(0), workflow('new'))]);
      const changed = await runJson(pipeline, [], { cwd, env });
      expect(statuses(changed.run)).toEqual({ snapshot: 'executed', collect: 'executed' });
      expect(JSON.parse((await runCli(['output', 'collect.report'], { cwd, env })).stdout)).toMatchObject({ total: 5, kept: 4 });
    } finally {
      await minio.stop();
    }
  }, 60_000);

  it('stops with a clear error when the export is missing', async () => {
    const cwd = await tempDir('flow-collect');
    const result = await runJson(pipeline, [], { cwd, env: { FLYWHEEL_TEST_FLOW_EXPORT: join(cwd, 'nope.jsonl') } });
    expect(result.code).toBe(1);
    expect(result.run.steps[0]?.error).toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    expect(statuses(result.run).collect).toBe('skipped');
  });
});
