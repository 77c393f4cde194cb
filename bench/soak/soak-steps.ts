// The steps of the chaos soak (bench/soak): every one deterministic, so a run under faults must end with
// the bytes a clean run makes, and every one logs where its executions start and end to
// $FLYWHEEL_SOAK_EXEC_LOG, so the soak counts executions itself instead of believing the engine.
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineStep, file, FlywheelError, json } from 'flywheel';

/** One line per execution event: `<ms> start|end <what>`; synchronous, so a kill right after cannot lose it. */
function logExecution(phase: 'start' | 'end', what: string): void {
  const log = process.env.FLYWHEEL_SOAK_EXEC_LOG;
  if (log) appendFileSync(log, `${Date.now()} ${phase} ${what}\n`);
}

const Item = z.object({ id: z.number().int(), text: z.string() });

/** Items whose score always fails: below the map's minSuccessRatio, so the run still succeeds without them. */
export const ALWAYS_FAILING = new Set([5, 72, 139]);

/** `items` items (one in ten changes with the variant) and a large deterministic file. */
export const source = defineStep({
  id: 'soak-source',
  version: 1,
  config: z.object({
    variant: z.number().int(),
    items: z.number().int().min(1).default(200),
    largeBytes: z
      .number()
      .int()
      .min(0)
      .default(4 << 20),
  }),
  outputs: { items: json(z.array(Item)), large: file({ fileName: 'large.bin' }) },
  async run({ config, outputs }) {
    logExecution('start', `v${config.variant}/source`);
    const items = Array.from({ length: config.items }, (_, id) => ({ id, text: `item ${id} of variant ${id % 10 === 0 ? config.variant : 0}` }));
    // Blocks of SHA-256 chained from the variant: 4 MiB that differ per variant and compress badly.
    const large = Buffer.alloc(config.largeBytes);
    let block = createHash('sha256').update(`variant ${config.variant}`).digest();
    for (let at = 0; at < large.length; at += block.length) {
      block.copy(large, at);
      block = createHash('sha256').update(block).digest();
    }
    await writeFile(outputs.large, large);
    logExecution('end', `v${config.variant}/source`);
    return { items };
  },
});

/** A link of the chain: its stage's header before the previous link's bytes. */
export const link = defineStep({
  id: 'soak-link',
  version: 1,
  config: z.object({ variant: z.number().int(), stage: z.number().int() }),
  inputs: { in: file() },
  outputs: { out: file({ fileName: 'link.bin' }) },
  async run({ config, inputs, outputs }) {
    const what = `v${config.variant}/link-${config.stage}`;
    logExecution('start', what);
    await writeFile(outputs.out, Buffer.concat([Buffer.from(`stage ${config.stage}\n`), await readFile(inputs.in)]));
    logExecution('end', what);
  },
});

/** A map element: the item's score, after a few milliseconds of "work" that faults can interrupt. */
export const score = defineStep({
  id: 'soak-score',
  version: 1,
  inputs: { item: json(Item) },
  outputs: { scored: json(z.object({ id: z.number().int(), score: z.number() })) },
  async run({ inputs, signal }) {
    const what = `item-${inputs.item.id}:${createHash('sha256').update(inputs.item.text).digest('hex').slice(0, 8)}`;
    logExecution('start', what);
    await sleep(15, undefined, { signal });
    if (ALWAYS_FAILING.has(inputs.item.id)) throw new FlywheelError('SOAK_ITEM_BROKEN', `item ${inputs.item.id} always fails`, { retryable: false });
    logExecution('end', what);
    return { scored: { id: inputs.item.id, score: inputs.item.text.length * 7 + inputs.item.id } };
  },
});

/** The GPU step: ticks that checkpoint through progress details, resumed from the last one after a lost worker. */
export const train = defineStep({
  id: 'soak-train',
  version: 1,
  config: z.object({ variant: z.number().int(), ticks: z.number().int().min(1).default(20), tickMs: z.number().int().min(0).default(100) }),
  inputs: { data: file() },
  outputs: { model: file({ fileName: 'model.txt' }) },
  resources: { queue: 'gpu-h200', timeout: 'PT10M' },
  async run({ config, inputs, outputs, progress, signal, resume }) {
    const from = (resume as { tick?: number } | undefined)?.tick ?? 0;
    const what = `v${config.variant}/train`;
    logExecution('start', `${what} from-tick-${from}`);
    for (let tick = from; tick < config.ticks; tick++) {
      await sleep(config.tickMs, undefined, { signal });
      progress({ fraction: (tick + 1) / config.ticks, message: `tick ${tick + 1}/${config.ticks}`, details: { tick: tick + 1 } });
    }
    const digest = createHash('sha256')
      .update(await readFile(inputs.data))
      .digest('hex');
    await writeFile(outputs.model, `model of ${digest} after ${config.ticks} ticks\n`);
    logExecution('end', what);
  },
});

/** The fan-in: the model, the scores and the chain's end in one small report. */
export const report = defineStep({
  id: 'soak-report',
  version: 1,
  config: z.object({ variant: z.number().int() }),
  inputs: { model: file(), scores: file(), chain: file() },
  outputs: { report: json(z.object({ model: z.string(), scored: z.number().int(), total: z.number(), chainBytes: z.number().int() })) },
  async run({ config, inputs }) {
    logExecution('start', `v${config.variant}/report`);
    const scores = (await readFile(inputs.scores, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { score: number });
    const result = {
      model: (await readFile(inputs.model, 'utf8')).trim(),
      scored: scores.length,
      total: scores.reduce((sum, s) => sum + s.score, 0),
      chainBytes: (await readFile(inputs.chain)).length,
    };
    logExecution('end', `v${config.variant}/report`);
    return { report: result };
  },
});
