// `npm run soak`: a chaos soak of a distributed run. A real Temporal dev server, MinIO, cpu workers and a
// GPU-queue worker, with TCP proxies before Temporal and MinIO, run a stream of pipeline runs while a
// seeded schedule kills, freezes and cuts every part of it. First the same stream runs without faults:
// its results are the reference every faulted run must reproduce byte for byte, and its wall times the
// baseline. Then the invariants (see soak-invariants.ts) are checked; any broken one fails the soak.
//
//   npm run soak -- [--seed N] [--runs N] [--faults N]
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { runCli, startCli, type CliResult } from '../../test/support/cli.js';
import { replayHistories } from '../../test/support/temporal.js';
import { FaultSchedule, FAULT_KINDS, type FaultKind } from './fault-schedule.js';
import { startSoakCluster, type SoakCluster } from './soak-cluster.js';
import { executionsBeyondFaults, faultDuring, readExecutionLog, recordsWithoutExecution, type FaultRecord, type ShownStep } from './soak-invariants.js';

const PIPELINE = fileURLToPath(new URL('./soak.pipeline.ts', import.meta.url));
const BUCKET = 'soak';
const NODES_WITH_VARIANT = ['source', 'link-1', 'link-2', 'link-3', 'train', 'report'];
/** Submissions of one run before the soak calls it lost. */
const MAX_SUBMISSIONS = 8;

export interface SoakOptions {
  seed: number;
  /**
   * Runs in each stream: variants 0 … runs-1, each new to its store (its source, chain, training and report
   * execute; its map shares nine elements in ten with the others). The faulted stream goes round them
   * again, fully cached, until `faults` have hit.
   */
  runs: number;
  /** Faults to inject at least. */
  faults: number;
  /** Mean time between faults. */
  meanGapMs: number;
  /** Fault kinds left out (none by default). */
  without?: readonly FaultKind[];
  cpuWorkers: number;
  /** The soak pipeline's sizes. */
  items: number;
  ticks: number;
  tickMs: number;
  largeBytes: number;
  log: (line: string) => void;
}

export const DEFAULT_SOAK: Omit<SoakOptions, 'log'> = {
  seed: 20261207,
  runs: 100,
  faults: 300,
  meanGapMs: 2000,
  cpuWorkers: 2,
  items: 200,
  ticks: 20,
  tickMs: 100,
  largeBytes: 4 << 20,
};

/** What a finished run produced, per step: its key and its outputs' digests. */
type Produced = Record<string, { key: string; outputs: Record<string, string> }>;

export interface SoakReport {
  seed: number;
  runs: number;
  faults: Record<string, number>;
  /** Fault kinds this machine cannot inject, each with why (they are left out of the schedule, not counted). */
  leftOut: string[];
  faultLog: FaultRecord[];
  /** Runs that needed more than one submission, and the reasons the earlier ones ended. */
  resubmitted: number;
  submissionFailures: Record<string, number>;
  executions: ReturnType<typeof executionsBeyondFaults>;
  wall: { clean: { p50: number; p99: number }; faulted: { p50: number; p99: number } };
  leasesLeft: number;
  broken: string[];
  /** Where the executions log, the fault log and every worker's output were kept, when an invariant broke. */
  kept?: string;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function producedBy(stdout: string): { runId: string; status: string; produced: Produced } {
  const run = JSON.parse(stdout) as { runId: string; status: string; steps: Array<{ id: string; cacheKey: string | null; outputs: Record<string, string> }> };
  const produced: Produced = {};
  for (const step of run.steps) {
    // A step without a key or outputs would make the comparison say nothing: that is a broken run.
    if (step.cacheKey === null || Object.keys(step.outputs).length === 0) throw new Error(`run ${run.runId}: step ${step.id} has no key or no outputs`);
    produced[step.id] = { key: step.cacheKey, outputs: step.outputs };
  }
  return { runId: run.runId, status: run.status, produced };
}

/** Why a submission ended without success, in a word: what the soak counts and a fault must explain. */
function failureOf(result: CliResult): string {
  if (result.signal !== null) return `killed (${result.signal})`;
  try {
    const run = JSON.parse(result.stdout) as { status?: string; steps?: Array<{ status: string; error?: { code: string } }> };
    const codes = [...new Set((run.steps ?? []).flatMap((s) => (s.error === undefined ? [] : [s.error.code])))];
    return `${run.status ?? 'no status'}: ${codes.join(', ') || 'no step error'}`;
  } catch {
    const last = result.stderr.trim().split('\n').at(-1) ?? '';
    return `exit ${result.code}: ${last.slice(0, 160)}`;
  }
}

class Soak {
  private readonly started = Date.now();
  private readonly faultLog: FaultRecord[] = [];
  private cli: ReturnType<typeof startCli> | undefined;
  private streamDone = false;
  private readonly submissionFailures: Record<string, number> = {};
  readonly broken: string[] = [];

  constructor(
    private readonly cluster: SoakCluster,
    private readonly options: SoakOptions,
    private readonly cwd: string,
  ) {}

  private since(): number {
    return Date.now() - this.started;
  }

  private args(variant: number): string[] {
    const { items, ticks, tickMs, largeBytes } = this.options;
    const sets = NODES_WITH_VARIANT.flatMap((node) => ['--set', `${node}.variant=${variant}`]);
    return [
      'run',
      PIPELINE,
      '--engine',
      'temporal',
      '--json',
      ...sets,
      ...['--set', `source.items=${items}`, '--set', `source.largeBytes=${largeBytes}`, '--set', `train.ticks=${ticks}`, '--set', `train.tickMs=${tickMs}`],
    ];
  }

  /** Runs one variant to success, submitting again after each failed or killed submission; its wall time and what it produced. */
  async runToSuccess(variant: number, store: string): Promise<{ wallMs: number; submissions: number; produced: Produced; runId: string } | undefined> {
    const begun = Date.now();
    for (let submission = 1; submission <= MAX_SUBMISSIONS; submission++) {
      const submitted = Date.now();
      this.cli = startCli(this.args(variant), { cwd: this.cwd, env: { ...this.cluster.env, FLYWHEEL_STORE: store } });
      const result = await this.cli.done;
      this.cli = undefined;
      if (result.code === 0) {
        const { runId, produced } = producedBy(result.stdout);
        return { wallMs: Date.now() - begun, submissions: submission, produced, runId };
      }
      const why = failureOf(result);
      this.submissionFailures[why] = (this.submissionFailures[why] ?? 0) + 1;
      this.options.log(`  run of variant ${variant}, submission ${submission}: ${why}; submitting again`);
      // A submission that failed with no fault under way while it ran is a failure nothing explains.
      if (!faultDuring(this.faultLog, submitted, Date.now()))
        this.broken.push(`variant ${variant} submission ${submission} failed with no fault during it: ${why}`);
    }
    this.broken.push(`variant ${variant} did not succeed in ${MAX_SUBMISSIONS} submissions`);
    return undefined;
  }

  /** Injects faults by the seeded schedule until the stream is done. */
  async injectFaults(schedule: FaultSchedule): Promise<void> {
    while (!this.streamDone) {
      const { afterMs, kind } = schedule.next();
      await sleep(afterMs);
      if (this.streamDone) return;
      // Logged as it begins, so a failure while it lasts finds it; dropped if it had nothing to hit.
      const at = Date.now();
      const record: FaultRecord = { at, atMs: at - this.started, kind, detail: 'under way' };
      this.faultLog.push(record);
      const detail = await this.inject(kind, schedule).catch((error: unknown) => {
        this.broken.push(`the soak could not inject ${kind}: ${(error as Error).message}`);
        return undefined;
      });
      if (detail === undefined) {
        this.faultLog.splice(this.faultLog.indexOf(record), 1);
        continue;
      }
      Object.assign(record, { detail, endAt: Date.now() });
      this.options.log(`  fault ${this.faultLog.length} at ${(record.atMs / 1000).toFixed(1)} s: ${kind} (${detail})`);
    }
  }

  /** One fault; undefined when it had nothing to hit (no CLI running). */
  private async inject(kind: FaultKind, schedule: FaultSchedule): Promise<string | undefined> {
    const { cluster } = this;
    const pause = (fromMs: number, toMs: number): number => Math.round(fromMs + (toMs - fromMs) * schedule.draw());
    switch (kind) {
      case 'kill-cli': {
        if (this.cli === undefined) return undefined;
        this.cli.child.kill('SIGKILL');
        return `pid ${this.cli.child.pid}`;
      }
      case 'kill-cpu-worker': {
        const worker = cluster.cpu[Math.floor(schedule.draw() * cluster.cpu.length)];
        if (worker === undefined) return undefined;
        const pid = worker.child.pid;
        await cluster.restartWorker(worker);
        return `pid ${pid}`;
      }
      case 'kill-gpu-worker': {
        const pid = cluster.gpu.child.pid;
        await cluster.restartWorker(cluster.gpu);
        return `pid ${pid}`;
      }
      case 'freeze-cpu-worker':
      case 'freeze-gpu-worker': {
        const worker = kind === 'freeze-gpu-worker' ? cluster.gpu : cluster.cpu[Math.floor(schedule.draw() * cluster.cpu.length)];
        const pid = worker?.child.pid;
        if (pid === undefined) return undefined;
        // Longer than the heartbeat timeout (3 s): its activities go to another worker while it sleeps.
        const ms = pause(3500, 6000);
        process.kill(pid, 'SIGSTOP');
        await sleep(ms);
        process.kill(pid, 'SIGCONT');
        return `pid ${pid} for ${ms} ms`;
      }
      case 'kill-temporal':
      case 'kill-minio': {
        // Killed, down a moment, started again on the same port and state.
        const server = kind === 'kill-temporal' ? cluster.temporal : cluster.minio;
        await server.halt('SIGKILL');
        const ms = pause(200, 2000);
        await sleep(ms);
        await server.restart();
        return `down ${ms} ms`;
      }
      case 'cut-minio':
        return `${cluster.minioProxy.cut()} connections`;
      case 'cut-temporal':
        return `${cluster.temporalProxy.cut()} connections`;
      case 'fill-scratch-disk': {
        // Every write to the local disk fails with ENOSPC a moment (a step's output, a download, scratch).
        const bytes = cluster.scratch.fill();
        const ms = pause(500, 3000);
        await sleep(ms);
        cluster.scratch.free();
        return `${(bytes / 2 ** 20).toFixed(1)} MiB filled for ${ms} ms`;
      }
      case 'stall-minio': {
        // Held here while it lasts, so the fault's end is when the connections flow again.
        const ms = pause(500, 4000);
        cluster.minioProxy.stall(ms);
        await sleep(ms);
        return `${ms} ms`;
      }
    }
  }

  stop(): void {
    this.streamDone = true;
  }

  get faults(): FaultRecord[] {
    return this.faultLog;
  }

  get failures(): Record<string, number> {
    return this.submissionFailures;
  }
}

/** Calls `use` with a client of the dev server at `address`, closing its connection after. */
async function withClient<T>(address: string, use: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await use(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

/** Waits until no workflow runs on the dev server (runs whose CLI was killed go on without it). */
function untilWorkflowsEnd(address: string, timeoutMs: number): Promise<number> {
  return withClient(address, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let open = 0;
      for await (const _ of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) open++;
      if (open === 0 || Date.now() > deadline) return open;
      await sleep(1000);
    }
  });
}

/** Replays every workflow the server has (runs, shared step executions) against this build's bundle. */
function replayEveryHistory(address: string): Promise<{ count: number; failures: string[] }> {
  return withClient(address, async (client) => {
    const failures: string[] = [];
    let count = 0;
    for await (const workflow of client.workflow.list()) {
      const history = await client.workflow.getHandle(workflow.workflowId, workflow.runId).fetchHistory();
      count++;
      await replayHistories([{ workflowId: workflow.workflowId, history }]).catch((error: unknown) =>
        failures.push(`workflow ${workflow.workflowId} (run ${workflow.runId}) does not replay: ${(error as Error).message.split('\n')[0]}`),
      );
    }
    return { count, failures };
  });
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log;
  const cluster = await startSoakCluster({ cpuWorkers: options.cpuWorkers, bucket: BUCKET });
  const { execLog } = cluster;
  const cwd = cluster.folder;
  const broken: string[] = [];
  // Kept when an invariant breaks (or the soak itself fails): what the failure is read from afterwards.
  const keepTo = fileURLToPath(new URL(`../.work/soak-${options.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url));
  let keep = true;
  let faultLog: FaultRecord[] = [];
  const leftOut: string[] = [];
  try {
    // The reference: the same stream without faults, on a store of its own; its wall times the baseline.
    log(`soak seed ${options.seed}: ${options.runs} reference runs without faults`);
    const clean = new Soak(cluster, options, cwd);
    const reference = new Map<number, Produced>();
    const cleanWall: number[] = [];
    for (let variant = 0; variant < options.runs; variant++) {
      const done = await clean.runToSuccess(variant, `s3://${BUCKET}/clean`);
      if (done === undefined) throw new Error(`the reference run of variant ${variant} failed without faults: ${clean.broken.join('; ')}`);
      reference.set(variant, done.produced);
      cleanWall.push(done.wallMs);
    }
    broken.push(...clean.broken);

    // The faulted stream, on a fresh store: the same variants in turn, under the seeded schedule.
    await writeFile(execLog, '');
    log(`faulted stream: at least ${options.runs} runs and ${options.faults} faults`);
    const soak = new Soak(cluster, options, cwd);
    const without = new Set(options.without ?? []);
    if (!cluster.scratch.quota) {
      without.add('fill-scratch-disk');
      leftOut.push(`fill-scratch-disk: the scratch disk has no quota here: ${cluster.scratch.why ?? ''}`);
    }
    const faulting = soak.injectFaults(new FaultSchedule(options.seed, options.meanGapMs, without));
    const faultedWall: number[] = [];
    const succeeded: Array<{ runId: string; variant: number }> = [];
    let runs = 0;
    let resubmitted = 0;
    while (runs < options.runs || soak.faults.length < options.faults) {
      const variant = runs % options.runs;
      const done = await soak.runToSuccess(variant, `s3://${BUCKET}/faulted`);
      runs++;
      if (done === undefined) continue;
      // Wall times of the first round only: the runs the reference stream made too (the rest are fully cached).
      if (runs <= options.runs) faultedWall.push(done.wallMs);
      succeeded.push({ runId: done.runId, variant });
      if (done.submissions > 1) resubmitted++;
      const expected = reference.get(variant) as Produced;
      for (const [step, want] of Object.entries(expected)) {
        const got = done.produced[step];
        if (JSON.stringify(got) !== JSON.stringify(want))
          broken.push(`run ${done.runId} (variant ${variant}) step ${step}: ${JSON.stringify(got)}, the clean run: ${JSON.stringify(want)}`);
      }
      log(
        `run ${runs} (variant ${variant}) succeeded after ${done.submissions} submission(s) in ${(done.wallMs / 1000).toFixed(1)} s; ${soak.faults.length} faults so far`,
      );
    }
    soak.stop();
    await faulting;
    faultLog = soak.faults;
    broken.push(...soak.broken);

    // Everything in flight ends; then the store and the records must be whole.
    const stillOpen = await untilWorkflowsEnd(cluster.temporal.address, 180_000);
    if (stillOpen > 0) broken.push(`${stillOpen} workflows still running 3 minutes after the stream ended`);
    // A history that does not replay hangs its run at the next worker that must replay it.
    const replayed = await replayEveryHistory(cluster.temporal.address);
    broken.push(...replayed.failures);
    log(`replayed ${replayed.count} workflow histories against the bundle`);
    await cluster.stopWorkers();
    broken.push(...cluster.crashes);
    const store = { cwd, env: { ...cluster.env, FLYWHEEL_STORE: `s3://${BUCKET}/faulted` } };
    const verify = await runCli(['cache', 'verify'], store);
    if (verify.code !== 0) broken.push(`cache verify found damage:\n${verify.stdout}${verify.stderr}`);
    const listed = await runCli(['runs', '--json', '--limit', '1000'], store);
    const records = JSON.parse(listed.stdout) as Array<{ runId: string; status: string }>;
    for (const record of records.filter((r) => r.status === 'running')) broken.push(`run ${record.runId} is still recorded as running`);
    const leases = await cluster.minio.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'faulted/locks/' }));
    const leasesLeft = (leases.Contents ?? []).filter((o) => !(o.Key ?? '').endsWith('.failed')).length;
    if (leasesLeft > 0) broken.push(`${leasesLeft} leases are left in the store with every process stopped`);

    const events = await readExecutionLog(execLog);
    const executions = executionsBeyondFaults(events, soak.faults);
    broken.push(...executions.unexplained);
    // What `show` says each run did, against what the steps logged.
    const shown: Array<{ runId: string; variant: number; steps: ShownStep[] }> = [];
    for (const { runId, variant } of succeeded) {
      const result = await runCli(['show', runId, '--json'], store);
      if (result.code !== 0) broken.push(`flywheel show ${runId} failed: ${result.stderr.trim().split('\n').at(-1) ?? ''}`);
      const record = result.code === 0 ? (JSON.parse(result.stdout) as { status: string; steps: ShownStep[] }) : { status: 'unknown', steps: [] };
      if (record.status !== 'succeeded') broken.push(`run ${runId} succeeded, but show says ${record.status}`);
      shown.push({ runId, variant, steps: record.steps });
    }
    broken.push(...recordsWithoutExecution(shown, events));
    const faults: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, soak.faults.filter((f) => f.kind === k).length]));
    keep = broken.length > 0;
    return {
      seed: options.seed,
      runs,
      faults,
      leftOut,
      faultLog: soak.faults,
      resubmitted,
      submissionFailures: soak.failures,
      executions,
      wall: {
        clean: { p50: quantile(cleanWall, 0.5), p99: quantile(cleanWall, 0.99) },
        faulted: { p50: quantile(faultedWall, 0.5), p99: quantile(faultedWall, 0.99) },
      },
      leasesLeft,
      broken,
      ...(keep ? { kept: keepTo } : {}),
    };
  } finally {
    if (keep) {
      await mkdir(keepTo, { recursive: true });
      await writeFile(join(keepTo, 'faults.json'), JSON.stringify(faultLog, null, 2));
    }
    await cluster.stop(keep ? keepTo : undefined);
  }
}

/** The soak's figures, as `npm run soak` prints them. */
export function describeReport(report: SoakReport): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `seed ${report.seed}: ${report.runs} runs, ${report.faultLog.length} faults`,
    `faults by kind: ${Object.entries(report.faults)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    ...report.leftOut.map((why) => `left out: ${why}`),
    `runs that needed a re-submit: ${report.resubmitted}; submissions that failed: ${
      Object.entries(report.submissionFailures)
        .map(([why, n]) => `${n}× ${why}`)
        .join('; ') || 'none'
    }`,
    `executions: ${report.executions.total}, of which beyond the first of their key: ${report.executions.extra} (${(100 * report.executions.extraShareOfCompute).toFixed(1)}% of execution time)`,
    ...Object.entries(report.executions.byStep).map(([step, e]) => `  ${step}: ${e.executions} executions, ${e.extra} extra`),
    `wall time per run: p50 ${s(report.wall.faulted.p50)}, p99 ${s(report.wall.faulted.p99)} under faults; without faults p50 ${s(report.wall.clean.p50)}, p99 ${s(report.wall.clean.p99)}`,
    `leases left: ${report.leasesLeft}`,
    report.broken.length === 0 ? 'every invariant held' : `BROKEN (${report.broken.length}):\n${report.broken.map((b) => `  - ${b}`).join('\n')}`,
    ...(report.kept === undefined ? [] : [`the executions log, the fault log and the workers' output are kept in ${report.kept}`]),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seed: { type: 'string' }, runs: { type: 'string' }, faults: { type: 'string' } } });
  const options: SoakOptions = {
    ...DEFAULT_SOAK,
    ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
    ...(values.runs === undefined ? {} : { runs: Number(values.runs) }),
    ...(values.faults === undefined ? {} : { faults: Number(values.faults) }),
    log: (line) => console.log(line),
  };
  const report = await runSoak(options);
  console.log(`\n${describeReport(report)}`);
  const saved = fileURLToPath(new URL('../.work/soak-report.json', import.meta.url));
  await mkdir(dirname(saved), { recursive: true });
  await writeFile(saved, JSON.stringify(report, null, 2));
  console.log(`the report, every fault with its time: ${saved}`);
  if (report.broken.length > 0) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
