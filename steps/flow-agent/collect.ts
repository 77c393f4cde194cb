import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineStep, file, FlywheelError, json } from 'flywheel';
import { ProductionRecord } from './production-record.js';
import { listS3Jsonl, readS3Jsonl } from './s3-source.js';
import { validateFlow } from './validate-flow.js';
import { workflowDescriptor } from './workflow-descriptor.js';

/** The source's bytes: a file's, or each .jsonl file's in name order for a directory or an S3 prefix. */
async function readSource(source: string): Promise<Buffer> {
  if (source.startsWith('s3://')) return readS3Jsonl(source);
  const info = await stat(source).catch(() => undefined);
  if (info === undefined)
    throw new FlywheelError('SOURCE_NOT_FOUND', `${source} does not exist`, {
      retryable: false,
      fix: "set the step's source to a JSONL file or a directory of .jsonl files",
    });
  if (info.isFile()) return readFile(source);
  const names = (await readdir(source)).filter((n) => n.endsWith('.jsonl')).sort();
  const parts = await Promise.all(names.map((n) => readFile(join(source, n), 'utf8')));
  return Buffer.from(parts.map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`)).join(''));
}

/**
 * A step that reads an outside JSONL file (or a directory of them, in name order) into the store.
 * The data changes outside Flywheel, so the digest of its bytes is part of the key (`external`):
 * unchanged data is a cache hit all the way down, new data re-runs what depends on it.
 */
/** A step that copies a JSONL source (file, folder or S3 prefix) into the store, keyed by its content. */
export function snapshotStep(id: string, what: string, fileName: string) {
  return defineStep({
    id,
    version: 2,
    description: `Copy the ${what} (JSONL) into the store`,
    config: z.object({ source: z.string().min(1) }),
    outputs: { data: file({ fileName }) },
    external: async (config) => {
      // An S3 prefix is judged by its objects' ETags (no download); a local source by its bytes.
      if (config.source.startsWith('s3://')) return (await listS3Jsonl(config.source)).map((o) => `${o.key} ${o.etag} ${o.size}`);
      const bytes = await readSource(config.source).catch((error: unknown) => {
        if (error instanceof FlywheelError) return undefined; // reported by run(), with the fix
        throw error;
      });
      return bytes === undefined ? 'missing' : `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    },
    async run({ config, outputs }) {
      try {
        await writeFile(outputs.data, await readSource(config.source));
      } catch (error) {
        if (error instanceof FlywheelError)
          throw new FlywheelError(error.code, `${what}: ${error.message}`, {
            retryable: false,
            fix: `set ${id}.source to a JSONL file or a directory of .jsonl files`,
          });
        throw error;
      }
    },
  });
}

/** The production workflow export. */
export const snapshotProduction = snapshotStep('flow-snapshot-production', 'production export', 'production.jsonl');
/** The held-out benchmark. */
export const snapshotBenchmark = snapshotStep('flow-snapshot-benchmark', 'benchmark', 'benchmark.jsonl');

export const CollectReport = z.object({
  asOf: z.string(),
  total: z.number().int(),
  malformed: z.number().int(),
  invalid: z.number().int(),
  notRecent: z.number().int(),
  merchantTooSmall: z.number().int(),
  duplicateDescriptor: z.number().int(),
  kept: z.number().int(),
  merchants: z.number().int(),
});
export type CollectReport = z.infer<typeof CollectReport>;

const DAY = 86_400_000;

/**
 * Keeps the workflows worth learning from: valid, run within the last `days` before `asOf`, from
 * merchants with at least `minWorkflowsPerMerchant` such workflows, one per workflow descriptor (the
 * most recently run). `asOf` defaults to the export's latest run, so the result depends on the data only.
 */
export const collect = defineStep({
  id: 'flow-collect',
  version: 2,
  description: 'Select recent, validated, de-duplicated production workflows',
  config: z.object({
    days: z.number().int().min(1).default(7),
    minWorkflowsPerMerchant: z.number().int().min(1).default(2),
    asOf: z.iso.datetime().optional(),
  }),
  inputs: { export: file() },
  outputs: { workflows: file({ fileName: 'workflows.jsonl' }), report: json(CollectReport) },
  async run({ config, inputs, outputs, log }) {
    const lines = (await readFile(inputs.export, 'utf8')).split('\n').filter((l) => l.trim() !== '');
    let malformed = 0;
    let invalid = 0;
    const records: ProductionRecord[] = [];
    for (const line of lines) {
      let parsed;
      try {
        parsed = ProductionRecord.safeParse(JSON.parse(line));
      } catch {
        parsed = undefined;
      }
      if (!parsed?.success) malformed++;
      else if (validateFlow(parsed.data.workflow).length > 0) invalid++;
      else records.push(parsed.data);
    }
    const runs = records.map((r) => (r.last_run_at === null ? Number.NaN : Date.parse(r.last_run_at))).filter((t) => !Number.isNaN(t));
    const asOf = config.asOf === undefined ? Math.max(0, ...runs) : Date.parse(config.asOf);
    const recent = records.filter((r) => r.last_run_at !== null && Date.parse(r.last_run_at) <= asOf && Date.parse(r.last_run_at) > asOf - config.days * DAY);
    const perMerchant = new Map<string, number>();
    for (const r of recent) perMerchant.set(r.merchant_id, (perMerchant.get(r.merchant_id) ?? 0) + 1);
    const eligible = recent.filter((r) => (perMerchant.get(r.merchant_id) ?? 0) >= config.minWorkflowsPerMerchant);
    const byDescriptor = new Map<string, ProductionRecord>();
    for (const r of eligible) {
      const key = workflowDescriptor(r.workflow);
      const held = byDescriptor.get(key);
      if (
        held === undefined ||
        (held.last_run_at as string) < (r.last_run_at as string) ||
        (held.last_run_at === r.last_run_at && held.workflow_id > r.workflow_id)
      )
        byDescriptor.set(key, r);
    }
    const kept = [...byDescriptor.values()].sort((a, b) => a.workflow_id.localeCompare(b.workflow_id));
    // An edit carries the workflow it changed, so a request can be written as a change to it.
    const byId = new Map(records.map((r) => [r.workflow_id, r]));
    const withBase = kept.map((r) => {
      const base = r.kind === 'edit' && r.edit_of !== undefined ? byId.get(r.edit_of)?.workflow : undefined;
      return base === undefined ? r : { ...r, base };
    });
    await writeFile(outputs.workflows, withBase.map((r) => JSON.stringify(r)).join('\n') + (kept.length > 0 ? '\n' : ''));
    const report: CollectReport = {
      asOf: new Date(asOf).toISOString(),
      total: lines.length,
      malformed,
      invalid,
      notRecent: records.length - recent.length,
      merchantTooSmall: recent.length - eligible.length,
      duplicateDescriptor: eligible.length - kept.length,
      kept: kept.length,
      merchants: new Set(kept.map((r) => r.merchant_id)).size,
    };
    log.info(report, 'collected production workflows');
    return { report };
  },
});
