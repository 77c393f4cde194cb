// What one execution consumed: its wall and CPU time, measured here, and what the step reports through
// `ctx.usage` (GPU-seconds, LLM tokens, counts of its own). The result goes into the action entry (what
// a hit saves) and the run record (what the run spent).
import type { Usage } from '../../cache/records.js';
import { FlywheelError } from '../errors.js';
import type { StepUsage } from '../define/define-step.js';
import { startCpuShare } from './cpu-time.js';

function checkAmount(what: string, amount: number): void {
  if (!Number.isFinite(amount) || amount < 0)
    throw new FlywheelError('USAGE_INVALID', `ctx.usage.${what} was given ${String(amount)}`, { fix: 'report a finite amount of zero or more' });
}

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || name.trim() === '')
    throw new FlywheelError('USAGE_INVALID', `ctx.usage.${what} was given an empty name`, { fix: 'name the model, GPU type or count' });
}

export class UsageMeter {
  private readonly started = performance.now();
  private readonly stopCpu = startCpuShare();
  private readonly gpuSeconds: Record<string, number> = {};
  private readonly tokens: NonNullable<Usage['tokens']> = {};
  private readonly counts: Record<string, number> = {};
  private finished: Usage | undefined;

  /** The step's `ctx.usage`. */
  readonly usage: StepUsage = {
    tokens: (model, t) => {
      checkName('tokens', model);
      checkAmount('tokens input', t.input);
      checkAmount('tokens output', t.output);
      const calls = t.calls ?? 1;
      checkAmount('tokens calls', calls);
      const before = this.tokens[model];
      const offline = t.offline === true && (before === undefined || before.offline === true);
      this.tokens[model] = {
        input: (before?.input ?? 0) + Math.round(t.input),
        output: (before?.output ?? 0) + Math.round(t.output),
        calls: (before?.calls ?? 0) + Math.round(calls),
        ...(offline ? { offline } : {}),
      };
    },
    gpu: (type, seconds) => {
      checkName('gpu', type);
      checkAmount('gpu', seconds);
      this.gpuSeconds[type] = (this.gpuSeconds[type] ?? 0) + seconds;
    },
    count: (name, amount) => {
      checkName('count', name);
      checkAmount('count', amount);
      this.counts[name] = (this.counts[name] ?? 0) + amount;
    },
  };

  /** Stops the clocks (once; later calls give the same) and gives what the execution consumed. */
  finish(): Usage {
    if (this.finished !== undefined) return this.finished;
    const some = (o: Record<string, unknown>): boolean => Object.keys(o).length > 0;
    this.finished = {
      wallMs: Math.round(performance.now() - this.started),
      cpuMs: Math.round(this.stopCpu()),
      ...(some(this.gpuSeconds) ? { gpuSeconds: { ...this.gpuSeconds } } : {}),
      ...(some(this.tokens) ? { tokens: { ...this.tokens } } : {}),
      ...(some(this.counts) ? { counts: { ...this.counts } } : {}),
    };
    return this.finished;
  }
}
