import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, json } from '../../index.js';
import type { PriceTable, Usage } from '../../cache/records.js';
import { addUsage, subtractUsage, totalUsage } from '../../engine/core/usage.js';
import { formatMoney, gpuHourPrice, priceUsage } from '../../engine/cost/price-usage.js';
import { usageParts } from '../../engine/cost/describe-usage.js';
import { UsageMeter } from '../../engine/execute/usage-meter.js';
import { inProcessRunner } from '../support/in-process.js';

const table = (t: Partial<PriceTable>): PriceTable => ({ currency: 'USD', ...t });

describe('adding up usage', () => {
  const a: Usage = { wallMs: 10, cpuMs: 4, gpuSeconds: { H100: 60 }, tokens: { m: { input: 10, output: 2, calls: 1 } }, counts: { pages: 3 } };
  const b: Usage = {
    wallMs: 5,
    cpuMs: 1,
    gpuSeconds: { H100: 30, H200: 10 },
    tokens: { m: { input: 5, output: 1, calls: 1 }, o: { input: 0, output: 0, calls: 2, offline: true } },
  };

  it('sums every amount by its name; absent means nothing known', () => {
    expect(addUsage(a, b)).toEqual({
      wallMs: 15,
      cpuMs: 5,
      gpuSeconds: { H100: 90, H200: 10 },
      tokens: { m: { input: 15, output: 3, calls: 2 }, o: { input: 0, output: 0, calls: 2, offline: true } },
      counts: { pages: 3 },
    });
    expect(addUsage(undefined, b)).toBe(b);
    expect(totalUsage([undefined, undefined])).toBeUndefined();
  });

  it('a model is offline only while every call to it was', () => {
    const offline: Usage = { wallMs: 0, cpuMs: 0, tokens: { m: { input: 0, output: 0, calls: 1, offline: true } } };
    expect(addUsage(offline, offline)?.tokens?.m?.offline).toBe(true);
    expect(addUsage(offline, a)?.tokens?.m).toEqual({ input: 10, output: 2, calls: 2 });
  });

  it('subtracts down to zero, dropping what is used up', () => {
    expect(subtractUsage(addUsage(a, b), b)).toEqual({ ...a, gpuSeconds: { H100: 60 } });
    expect(subtractUsage(b, a)).toEqual({ wallMs: 0, cpuMs: 0, gpuSeconds: { H200: 10 }, tokens: { o: { input: 0, output: 0, calls: 2, offline: true } } });
  });
});

describe('pricing usage', () => {
  it('prices GPU types by the longest key the device name contains, ignoring case', () => {
    const prices = table({ gpuHour: { H100: 2, 'h100 80gb': 3, H200: 4 } });
    expect(gpuHourPrice(prices, 'NVIDIA H100 80GB HBM3')).toBe(3);
    expect(gpuHourPrice(prices, 'NVIDIA H100 PCIe')).toBe(2);
    expect(gpuHourPrice(prices, 'NVIDIA A10G')).toBeUndefined();
  });

  it('adds GPU-hours, tokens per million (exact model, else `*`), counts and CPU; names what has no price', () => {
    const usage: Usage = {
      wallMs: 0,
      cpuMs: 3_600_000,
      gpuSeconds: { 'NVIDIA H200': 7200, 'NVIDIA A10G': 60 },
      tokens: {
        big: { input: 2_000_000, output: 1_000_000, calls: 9 },
        small: { input: 1_000_000, output: 0, calls: 1 },
        offline: { input: 0, output: 0, calls: 5, offline: true },
      },
      counts: { pages: 100, rows: 5 },
    };
    const cost = priceUsage(
      usage,
      table({
        cpuHour: 0.1,
        gpuHour: { H200: 3.5 },
        tokensPerMillion: { big: { input: 1, output: 4 }, '*': { input: 0.5, output: 0.5 } },
        counts: { pages: 0.01 },
      }),
    );
    expect(cost.amount).toBeCloseTo(0.1 + 7 + (2 + 4) + 0.5 + 1, 10);
    expect(cost.unpriced).toEqual(['GPU NVIDIA A10G', 'count rows']);
    // Without a `*`, a model with no price is named; an offline stand-in never is.
    expect(priceUsage(usage, table({ tokensPerMillion: { big: { input: 1, output: 1 } } })).unpriced).toEqual([
      'GPU NVIDIA H200',
      'GPU NVIDIA A10G',
      'tokens of small',
      'count pages',
      'count rows',
    ]);
  });

  it('writes money so that a small cost never reads as zero', () => {
    expect(formatMoney(1234.5, 'USD')).toBe('$1,234.50');
    expect(formatMoney(0.0042, 'USD')).toBe('$0.0042');
    expect(formatMoney(0.00000007, 'USD')).toBe('<$0.0001');
    expect(formatMoney(0, 'EUR')).toBe('€0.00');
    expect(formatMoney(12.3, 'CHF')).toBe('12.30 CHF');
  });

  it('names the resources worth a line, GPU-hours first', () => {
    expect(
      usageParts({ wallMs: 0, cpuMs: 61_000, gpuSeconds: { 'NVIDIA H200': 8 * 12 * 3600 }, tokens: { m: { input: 900_000, output: 300_000, calls: 40 } } }),
    ).toEqual(['96.0 GPU-h H200', '1.2M tokens', 'CPU 1m 01s']);
    expect(usageParts({ wallMs: 0, cpuMs: 0, tokens: { m: { input: 0, output: 0, calls: 7, offline: true } } })).toEqual(['LLM offline (7 calls, no tokens)']);
  });
});

describe('ctx.usage', () => {
  it('refuses amounts that are negative, infinite or unnamed, with the code USAGE_INVALID', () => {
    const meter = new UsageMeter();
    expect(() => meter.usage.gpu('H200', -1)).toThrow(expect.objectContaining({ code: 'USAGE_INVALID' }) as Error);
    expect(() => meter.usage.count('pages', Number.POSITIVE_INFINITY)).toThrow(/ctx.usage.count was given Infinity/);
    expect(() => meter.usage.tokens(' ', { input: 1, output: 1 })).toThrow(/empty name/);
    meter.usage.tokens('m', { input: 3, output: 1 });
    meter.usage.tokens('m', { input: 2, output: 1, calls: 2 });
    expect(meter.finish().tokens).toEqual({ m: { input: 5, output: 2, calls: 3 } });
  });

  it('a step retried after a failure spends both attempts, and its entry keeps them both: what a later hit saves', async () => {
    const { run } = await inProcessRunner();
    let attempts = 0;
    const flaky = defineStep({
      id: 'flaky-usage',
      version: 1,
      outputs: { out: json(z.number()) },
      resources: { retries: 2, retryDelay: 'PT0.01S' },
      run({ usage }) {
        attempts++;
        usage.gpu('NVIDIA H100', 100);
        if (attempts === 1) throw new Error('preempted');
        return { out: attempts };
      },
    });
    const pipeline = definePipeline({ name: 'flaky-usage', build: (p) => void p.add(flaky) });
    const first = await run(pipeline);
    expect(first.steps[0]).toMatchObject({ status: 'executed', attempts: 2, spent: { gpuSeconds: { 'NVIDIA H100': 200 } } });
    expect(first.usage?.spent.gpuSeconds).toEqual({ 'NVIDIA H100': 200 });
    const second = await run(pipeline);
    expect(second.steps[0]).toMatchObject({ status: 'cached', saved: { gpuSeconds: { 'NVIDIA H100': 200 } } });
    expect(second.steps[0]?.spent).toBeUndefined();
    expect(attempts).toBe(2);
  });

  it('two nodes of one run with the same key: one spends, the other saves what it cost', async () => {
    const { run } = await inProcessRunner();
    const once = defineStep({
      id: 'shared-usage',
      version: 1,
      outputs: { out: json(z.number()) },
      run: ({ usage }) => {
        usage.count('calls', 1);
        return { out: 1 };
      },
    });
    const record = await run(
      definePipeline({
        name: 'shared-usage',
        build(p) {
          p.add(once, { id: 'a' });
          p.add(once, { id: 'b' });
        },
      }),
    );
    const [spent, saved] = [record.steps.find((s) => s.status === 'executed'), record.steps.find((s) => s.status === 'cached')];
    expect(spent?.spent?.counts).toEqual({ calls: 1 });
    expect(saved?.saved?.counts).toEqual({ calls: 1 });
    expect(record.usage).toMatchObject({ spent: { counts: { calls: 1 } }, saved: { counts: { calls: 1 } } });
  });
});
