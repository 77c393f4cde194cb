import type { StepRunRecord } from '../cache/records.js';
import { formatDuration } from '../engine/durations.js';
import type { RunEvent } from '../engine/core/run-protocol.js';

const SYMBOL: Record<string, string> = { executed: '✓', cached: '●', failed: '✗', skipped: '–' };

/** Outputs no other step consumes: what the pipeline is for. */
function finalOutputs(steps: readonly StepRunRecord[]): string[] {
  const consumed = new Set(steps.flatMap((s) => Object.values(s.components?.inputs ?? {}).flatMap((i) => (i === null ? [] : [i.from]))));
  return steps.flatMap((s) => Object.keys(s.outputs).map((name) => `${s.id}.${name}`)).filter((ref) => !consumed.has(ref));
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

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live = out.isTTY === true,
  ) {}

  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'run-started':
        this.width = Math.min(32, Math.max(8, ...event.steps.map((s) => s.length)));
        this.line(`flywheel run ${event.pipeline} · run ${event.runId} · ${event.steps.length} steps`);
        if (this.live) this.timer = setInterval(() => this.drawStatus(), 250);
        break;
      case 'step-running':
        this.running.set(event.id, { since: Date.now() });
        this.line(`  ▸ ${event.id.padEnd(this.width)} running: ${event.reason}`);
        break;
      case 'step-waiting': {
        const state = this.running.get(event.id);
        if (state) state.waitingFor = event.holder;
        this.line(`  … ${event.id.padEnd(this.width)} waiting for ${event.holder}, which is computing the same key`);
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
        this.line(this.describe(event.step));
        break;
      case 'run-finished': {
        if (this.timer) clearInterval(this.timer);
        this.clearStatus();
        const steps = event.run.steps;
        const count = (status: string): number => steps.filter((s) => s.status === status).length;
        const saved = steps.reduce((sum, s) => sum + (s.savedMs ?? 0), 0);
        const verdict = event.run.status === 'succeeded' ? 'succeeded' : 'FAILED';
        this.line(
          `${verdict}: ${steps.length} steps — ${count('executed')} executed, ${count('cached')} cached, ${count('failed')} failed, ${count('skipped')} skipped · wall ${formatDuration(event.run.durationMs ?? 0)} · compute time saved by the cache ${formatDuration(saved)}`,
        );
        const results = finalOutputs(steps);
        if (results.length > 0) this.line(`results: ${results.join(', ')} — read one with: flywheel output <step>.<output>`);
        this.flushLines();
        break;
      }
    }
  };

  private describe(step: StepRunRecord): string {
    const name = step.id.padEnd(this.width);
    const symbol = SYMBOL[step.status] ?? '?';
    switch (step.status) {
      case 'executed':
        return `  ${symbol} ${name} executed in ${formatDuration(step.durationMs ?? 0)}`;
      case 'cached':
        return `  ${symbol} ${name} cached${step.savedMs ? ` (saves ${formatDuration(step.savedMs)})` : ''}${step.reasonCodes.includes('shared-execution') ? ` — ${step.reason}` : ''}`;
      case 'failed':
        return `  ${symbol} ${name} FAILED after ${formatDuration(step.durationMs ?? 0)}: ${step.error?.code ?? ''} ${step.error?.message ?? ''}`;
      default:
        return `  ${symbol} ${name} ${step.status}: ${step.reason}`;
    }
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
