import type { PriceTable } from '../../cache/records.js';
import { runCostLine } from './cost-text.js';
import { usageText } from '../../engine/cost/describe-usage.js';
import { Writable } from 'node:stream';
import type { StepRunRecord } from '../../cache/records.js';
import { formatDuration } from '../../engine/durations.js';
import type { RunEvent } from '../../engine/core/run-protocol.js';
import { elementsCached, elementsDone } from './map-elements.js';
import { declinedNote } from './run-summary.js';

const SYMBOL: Record<string, string> = { executed: '✓', cached: '●', failed: '✗', skipped: '–' };
/** A step that ran (or was reused) but decided not to act: not the ✓ of a step that did. */
const DECLINED_SYMBOL = '⊘';

/** Outputs no other step consumes: what the pipeline is for (sorted, so every run lists them alike). */
function finalOutputs(steps: readonly StepRunRecord[]): string[] {
  const consumed = new Set(steps.flatMap((s) => Object.values(s.components?.inputs ?? {}).flatMap((i) => (i === null ? [] : [i.from]))));
  return steps
    .flatMap((s) => Object.keys(s.outputs).map((name) => `${s.id}.${name}`))
    .filter((ref) => !consumed.has(ref))
    .sort();
}

/** How long a "running" line waits for a "waiting" that would replace it (claiming a key takes a few ms). */
const START_DELAY_MS = 150;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Log fields the step line already says, or that only matter to machines. */
const QUIET_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'pipeline', 'runId', 'stepId', 'cacheKey', 'cacheHit', 'err']);
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
/** Log events the step lines already show. */
const SHOWN_BY_STEP_LINES = new Set(['step started', 'step executed', 'step failed', 'run started', 'run finished']);

/** A pino record as one readable line: level, step, message, then its own fields (an error by its message only). */
export function logLine(record: Record<string, unknown>): string | undefined {
  if (typeof record.msg === 'string' && SHOWN_BY_STEP_LINES.has(record.msg)) return undefined;
  const level = LEVEL_NAMES[Number(record.level)] ?? 'log';
  const err = record.err as { message?: unknown } | string | undefined;
  const errText = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : undefined;
  const fields = Object.entries(record)
    .filter(([key]) => !QUIET_FIELDS.has(key))
    .map(([key, value]) => {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      return `${key}=${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
    });
  const detail = [...(errText === undefined ? [] : [errText.split('\n')[0] ?? '']), ...fields].join(', ');
  return `  ! ${typeof record.stepId === 'string' ? `${record.stepId}: ` : ''}${level}: ${String(record.msg ?? '')}${detail === '' ? '' : ` (${detail})`}`;
}

interface Running {
  since: number;
  fraction?: number;
  message?: string;
  waitingFor?: string;
}

/**
 * Human output of `flywheel run`: a line per step as it settles and, on a terminal, a live status line
 * with each running step's elapsed time and progress. Ends with executed vs cached and time saved.
 */
export class RunReporter {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private statusShown = false;
  private pending: string[] = [];
  private width = 12;
  /** "▸ running" lines held back a moment: a step that turns out to wait for another process says only that. */
  private readonly starts = new Map<string, { text: string; timer: NodeJS.Timeout }>();
  /** The run's price table (from its start), for the money beside each step's usage. */
  private prices: PriceTable | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live = out.isTTY === true,
  ) {}

  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'run-started':
        this.width = Math.min(32, Math.max(8, ...event.steps.map((s) => s.length)));
        this.prices = event.prices;
        this.line(`flywheel run ${event.pipeline} · run ${event.runId} · ${plural(event.steps.length, 'step')}`);
        if (this.live) this.timer = setInterval(() => this.drawStatus(), 250).unref();
        break;
      case 'step-running': {
        this.running.set(event.id, { since: Date.now() });
        const text = `  ▸ ${event.id.padEnd(this.width)} running: ${event.reason}`;
        this.starts.set(event.id, { text, timer: setTimeout(() => this.showStart(event.id), START_DELAY_MS).unref() });
        break;
      }
      case 'step-waiting': {
        const state = this.running.get(event.id);
        if (state) state.waitingFor = event.holder;
        this.dropStart(event.id);
        this.line(`  … ${event.id.padEnd(this.width)} waiting for ${event.holder}, which is computing the same key`);
        break;
      }
      case 'step-retrying': {
        this.showStart(event.id);
        const wait = formatDuration(event.delayMs);
        this.line(
          `  ↻ ${event.id.padEnd(this.width)} attempt ${event.attempt} failed: ${event.error.code} ${firstLine(event.error.message)}; trying again in ${wait}`,
        );
        break;
      }
      case 'step-progress': {
        const state = this.running.get(event.id);
        if (state) {
          if (event.progress.fraction !== undefined) state.fraction = event.progress.fraction;
          if (event.progress.message !== undefined) state.message = event.progress.message;
        }
        break;
      }
      case 'step-finished':
        this.running.delete(event.step.id);
        this.showStart(event.step.id);
        this.line(this.describe(event.step));
        if (event.step.warning !== undefined) this.line(`  ! ${event.step.id}: warning: ${event.step.warning}`);
        break;
      case 'run-finished': {
        if (this.timer) clearInterval(this.timer);
        for (const id of [...this.starts.keys()]) this.showStart(id);
        this.clearStatus();
        const steps = event.run.steps;
        const count = (status: string): number => steps.filter((s) => s.status === status).length;
        const saved = steps.reduce((sum, s) => sum + (s.savedMs ?? 0), 0);
        const verdict = event.run.status === 'succeeded' ? 'succeeded' : event.run.status === 'cancelled' ? 'CANCELLED' : 'FAILED';
        const declined = declinedNote(steps);
        this.line(
          `${verdict}: ${plural(steps.length, 'step')} — ${count('executed')} executed, ${count('cached')} cached, ${count('failed')} failed, ${count('skipped')} skipped${declined === '' ? '' : ` · ${declined}`} · wall ${formatDuration(event.run.durationMs ?? 0)} · compute time saved by the cache ${formatDuration(saved)}`,
        );
        // Only a whole run has results: a failed run's last outputs are somebody's unconsumed intermediates.
        const results = event.run.status === 'succeeded' ? finalOutputs(steps) : [];
        if (results.length > 0) this.line(`results: ${results.join(', ')} — read one with: flywheel output <step>.<output>`);
        const cost = runCostLine(event.run);
        if (cost !== undefined) this.line(cost);
        this.flushLines();
        break;
      }
    }
  };

  private showStart(id: string): void {
    const start = this.starts.get(id);
    if (start === undefined) return;
    this.dropStart(id);
    this.line(start.text);
  }

  private dropStart(id: string): void {
    clearTimeout(this.starts.get(id)?.timer);
    this.starts.delete(id);
  }

  private describe(step: StepRunRecord): string {
    const name = step.id.padEnd(this.width);
    const symbol = step.declined === undefined ? (SYMBOL[step.status] ?? '?') : DECLINED_SYMBOL;
    const elements = step.elements === undefined ? '' : ` · ${elementsDone(step.elements)}`;
    const declined = step.declined === undefined ? '' : ` · declined: ${step.declined}`;
    // GPU-hours, tokens, money: what is worth naming on a step's line (CPU time goes in the summary and `show`).
    const spent = usageText(step.spent, this.prices, { cpu: false });
    const saved = usageText(step.saved, this.prices, { cpu: false });
    switch (step.status) {
      case 'executed':
        return `  ${symbol} ${name} executed in ${formatDuration(step.durationMs ?? 0)}${attempts(step)}${spent === '' ? '' : ` · ${spent}`}${elements}${saved === '' ? '' : ` · cached elements saved ${saved}`}${declined}`;
      case 'cached': {
        const saves = [step.savedMs ? formatDuration(step.savedMs) : '', saved].filter((t) => t !== '').join(', ');
        return `  ${symbol} ${name} cached${saves === '' ? '' : ` (saves ${saves})`}${step.elements ? ` · ${elementsCached(step.elements)}` : ''}${step.reasonCodes.includes('shared-execution') ? ` — ${step.reason}` : ''}${declined}`;
      }
      case 'failed':
        if (step.error?.code === 'STEP_CANCELLED') return `  ${symbol} ${name} cancelled after ${formatDuration(step.durationMs ?? 0)}${elements}`;
        return `  ${symbol} ${name} FAILED after ${formatDuration(step.durationMs ?? 0)}${attempts(step)}${spent === '' ? '' : ` (spent ${spent})`}: ${step.error?.code ?? ''} ${firstLine(step.error?.message ?? '')}`;
      default:
        return `  ${symbol} ${name} ${step.status}: ${step.reason}`;
    }
  }

  /**
   * Where the run's logger writes in human mode: each pino record becomes one readable line on `err`,
   * written between status-line redraws so the two never collide, and in order with the step lines.
   */
  logSink(err: NodeJS.WritableStream = process.stderr): NodeJS.WritableStream {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const text of chunk.toString('utf8').split('\n')) {
          if (text.trim() === '') continue;
          let line: string | undefined;
          try {
            const record = JSON.parse(text) as Record<string, unknown>;
            // A step's log line comes after the line saying it runs.
            if (typeof record.stepId === 'string') this.showStart(record.stepId);
            line = logLine(record);
          } catch {
            line = text;
          }
          if (line === undefined) continue;
          this.flushLines();
          this.clearStatus();
          err.write(`${line}\n`);
          this.drawStatus();
        }
        done();
      },
    });
  }

  private line(text: string): void {
    if (!this.live) {
      // Piped or redirected: lines go out together once per turn of the event loop, not a write each.
      if (this.pending.length === 0) setImmediate(() => this.flushLines());
      this.pending.push(text);
      return;
    }
    this.clearStatus();
    this.out.write(`${text}\n`);
    this.drawStatus();
  }

  private flushLines(): void {
    if (this.pending.length > 0) this.out.write(`${this.pending.join('\n')}\n`);
    this.pending = [];
  }

  private clearStatus(): void {
    if (this.statusShown) this.out.write('\r\x1b[2K');
    this.statusShown = false;
  }

  private drawStatus(): void {
    if (!this.live || this.running.size === 0) return;
    const now = Date.now();
    const parts = [...this.running].map(([id, s]) => {
      const pct = s.fraction === undefined ? '' : ` ${Math.round(s.fraction * 100)}%`;
      const msg = s.message === undefined ? '' : ` ${s.message}`;
      return `${id} ${formatDuration(now - s.since)}${pct}${s.waitingFor ? ' (waiting)' : msg}`;
    });
    const columns = this.out.columns || 120; // 0 on some pseudo-terminals
    const text = `  running: ${parts.join(' | ')}`.slice(0, columns - 1);
    this.out.write(`\r\x1b[2K${text}`);
    this.statusShown = true;
  }
}

const firstLine = (text: string): string => text.split('\n')[0] ?? '';

/** ` (3 attempts)` for a step that took more than one. */
function attempts(step: StepRunRecord): string {
  return step.attempts !== undefined && step.attempts > 1 ? ` (${step.attempts} attempts)` : '';
}
