import { trustFromEnv } from '../../cache/trust-config.js';
import { collectGarbage, verifyStore, type VerifyReport } from '../../cache/maintenance.js';
import type { Store } from '../../cache/store.js';
import { formatDuration, parseIsoDuration } from '../../engine/durations.js';
import { lastFinishedRun, listRuns } from '../../engine/records/run-history.js';
import { UsageError } from '../../cache/errors.js';
import { FlywheelError } from '../../engine/errors.js';

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export async function cacheLsCommand(args: { json: boolean }, store: Store): Promise<number> {
  const rows: Array<{
    key: string;
    step: string;
    createdAt: string;
    runId: string;
    durationMs: number;
    outputs: Record<string, string>;
    bytes: number;
    /** Another code version's result for that key (a branch's), kept so switching back finds it. */
    variantOf?: string;
  }> = [];
  for await (const { key } of store.listActions()) {
    const entry = await store.getAction(key);
    if (entry === undefined || entry === 'unreadable') continue;
    const outputs = Object.fromEntries(Object.entries(entry.outputs).map(([n, o]) => [n, o.digest]));
    const bytes = Object.values(entry.outputs).reduce((sum, o) => sum + o.size, 0);
    rows.push({
      key,
      step: entry.step,
      createdAt: entry.createdAt,
      runId: entry.runId,
      durationMs: entry.durationMs,
      outputs,
      bytes,
      ...(entry.variantOf === undefined ? {} : { variantOf: entry.variantOf }),
    });
  }
  rows.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    for (const r of rows)
      process.stdout.write(
        `${r.key.slice(0, 16)}  ${r.step.padEnd(20)} ${r.createdAt}  ${formatDuration(r.durationMs).padStart(8)}  ${formatBytes(r.bytes).padStart(10)}${r.variantOf === undefined ? '' : `  other code's result for ${r.variantOf.slice(0, 16)}`}\n`,
      );
    process.stdout.write(`${rows.length} cache entries in ${store.description}\n`);
  }
  return 0;
}

/** Who signed the store's entries, in a line: or that it is unsigned, and how to sign it. */
function signatureLine(report: VerifyReport): string {
  const signers = Object.entries(report.signatures.signedBy).map(([id, n]) => `${n} signed by ${id}`);
  if (signers.length === 0)
    return report.entriesChecked === 0
      ? 'signatures: no entries'
      : 'signatures: none, the store is unsigned (give its writers FLYWHEEL_SIGNING_KEY and its readers FLYWHEEL_TRUSTED_KEYS: flywheel keys generate)';
  return `signatures: ${[...signers, ...(report.signatures.unsigned > 0 ? [`${report.signatures.unsigned} unsigned`] : [])].join(', ')}${report.untrustedEntries === null ? ' (no trusted keys set: FLYWHEEL_TRUSTED_KEYS)' : ''}`;
}

export async function cacheVerifyCommand(args: { fix: boolean; json: boolean }, store: Store): Promise<number> {
  const report = await verifyStore(store, args.fix, trustFromEnv(process.env).trusted);
  const problems = report.corruptBlobs.length + report.brokenEntries.length + (report.untrustedEntries?.length ?? 0);
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    for (const d of report.corruptBlobs) process.stdout.write(`corrupt blob ${d}${args.fix ? ' (removed)' : ''}\n`);
    for (const e of report.brokenEntries) process.stdout.write(`broken entry ${e.key}: ${e.problem}${args.fix ? ' (removed)' : ''}\n`);
    for (const e of report.untrustedEntries ?? []) process.stdout.write(`untrusted entry ${e.key}: ${e.problem}${args.fix ? ' (removed)' : ''}\n`);
    process.stdout.write(`${signatureLine(report)}\n`);
    process.stdout.write(
      `checked ${report.blobsChecked} blobs and ${report.entriesChecked} entries: ${problems === 0 ? 'all good' : `${problems} problem(s)${args.fix ? ', fixed: the next run recomputes them' : '; run `flywheel cache verify --fix` to remove them'}`}\n`,
    );
  }
  return problems > 0 && !args.fix ? 1 : 0;
}

export async function cacheGcCommand(args: { dryRun: boolean; keep: number; grace: string; json: boolean }, store: Store): Promise<number> {
  const graceMs = parseIsoDuration(args.grace);
  if (graceMs === undefined) throw new UsageError(`--grace ${args.grace} is not an ISO-8601 duration`, 'write e.g. --grace PT1H');
  const report = await collectGarbage(store, await listRuns(store), { keepRuns: args.keep, graceMs, dryRun: args.dryRun });
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const verb = args.dryRun ? 'would delete' : 'deleted';
    if (args.dryRun) {
      for (const k of report.deletedEntries) process.stdout.write(`would delete entry ${k}\n`);
      for (const d of report.deletedBlobs) process.stdout.write(`would delete blob ${d}\n`);
    }
    process.stdout.write(
      `${verb} ${report.deletedEntries.length} entries and ${report.deletedBlobs.length} blobs (${formatBytes(report.freedBytes)}); kept ${report.keptEntries} entries and ${report.keptBlobs} blobs referenced by ${report.keptRuns.length} runs (last ${args.keep} per pipeline, pinned, in progress) or younger than ${args.grace}\n`,
    );
  }
  return 0;
}

/**
 * `flywheel cache push <store> [--run <runId>] [--json]`: the results of a run of this store (the latest by
 * default) sent to another, S3 for a team: entries after their blobs, then the run record.
 */
export async function cachePushCommand(args: { to: string | undefined; run: string | undefined; json: boolean }, store: Store): Promise<number> {
  if (args.to === undefined || args.to === '')
    throw new UsageError('flywheel cache push needs the store to push to', 'write flywheel cache push s3://<bucket>/<prefix> [--run <runId>]');
  const { openStore } = await import('../../cache/open-store.js');
  const { pushRuns } = await import('../../cache/push-entries.js');
  const { checkRunId } = await import('../../cache/local-store.js');
  const target = openStore(args.to);
  let runs;
  if (args.run !== undefined) {
    const record = await store.getRun(checkRunId(args.run));
    if (record === undefined) throw new FlywheelError('RUN_NOT_FOUND', `no run ${args.run} in ${store.description}`, { fix: 'see flywheel runs' });
    runs = [record];
  } else {
    const latest = await lastFinishedRun(store, undefined);
    if (latest === undefined) throw new FlywheelError('RUN_NOT_FOUND', `${store.description} holds no finished run to push`, { fix: 'run a pipeline first' });
    runs = [latest];
  }
  const started = performance.now();
  const report = await pushRuns(store, target, runs);
  const seconds = (performance.now() - started) / 1000;
  if (args.json) process.stdout.write(`${JSON.stringify({ to: target.description, ...report, seconds }, null, 2)}\n`);
  else
    process.stdout.write(
      `pushed run ${runs.map((r) => r.runId).join(', ')} to ${target.description}: ${report.entries} entries, ${report.blobs} blobs (${formatBytes(report.bytes)}) in ${seconds.toFixed(1)}s; ${report.present} already there\n`,
    );
  if (report.missing.length === 0) return 0;
  // What is not here cannot be shared: the other machines will compute it; say so, and fail the command.
  process.stderr.write(
    `error: ${report.missing.length} of the run's entries are no longer in ${store.description} (removed by cache gc?), so they were not pushed: ${report.missing.slice(0, 3).join(', ')}${report.missing.length > 3 ? ', …' : ''}\n  fix: re-run the pipeline here to restore them, then push again\n`,
  );
  return 1;
}
