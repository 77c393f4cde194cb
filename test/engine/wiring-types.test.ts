import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, defineStep, dir, file, json } from '../../index.js';
import { validatePipeline } from '../../engine/validate/validate.js';

// The @ts-expect-error lines are the test: `npm run typecheck` fails if TypeScript stops rejecting them.
const producesFile = defineStep({ id: 'produces-file', version: 1, outputs: { out: file() }, run() {} });
const producesDir = defineStep({ id: 'produces-dir', version: 1, outputs: { out: dir() }, run() {} });
const producesCount = defineStep({
  id: 'produces-count',
  version: 1,
  outputs: { count: json(z.object({ n: z.number(), extra: z.string() })) },
  run: () => ({ count: { n: 1, extra: 'x' } }),
});
const producesName = defineStep({ id: 'produces-name', version: 1, outputs: { name: json(z.string()) }, run: () => ({ name: 'x' }) });
const needsFile = defineStep({ id: 'needs-file', version: 1, inputs: { in: file() }, run() {} });
const needsCount = defineStep({
  id: 'needs-count',
  version: 1,
  config: z.object({ k: z.number().default(1) }),
  inputs: { count: json(z.object({ n: z.number() })) },
  run() {},
});
const optionalInput = defineStep({
  id: 'optional-input',
  version: 1,
  inputs: { maybe: file({ optional: true }) },
  run: ({ inputs }) => void inputs.maybe?.length,
});

describe('typed wiring', () => {
  it('accepts matching wiring and rejects mismatches at compile time', () => {
    const pipeline = definePipeline({
      name: 'typed',
      build(p) {
        const f = p.add(producesFile);
        const d = p.add(producesDir);
        const c = p.add(producesCount);
        const n = p.add(producesName);
        p.add(needsFile, { id: 'ok-file', inputs: { in: f.out.out } });
        // A JSON value with more fields than needed is fine (structural subtyping).
        p.add(needsCount, { id: 'ok-count', inputs: { count: c.out.count } });
        p.add(optionalInput);
        // @ts-expect-error a directory cannot feed a file input
        p.add(needsFile, { id: 'dir-into-file', inputs: { in: d.out.out } });
        // @ts-expect-error a string cannot feed an input expecting { n: number }
        p.add(needsCount, { id: 'wrong-json', inputs: { count: n.out.name } });
        // @ts-expect-error a required input must be wired
        p.add(needsFile, { id: 'unwired', inputs: {} });
        // @ts-expect-error config values are typed by the schema
        p.add(needsCount, { id: 'bad-config', config: { k: 'one' }, inputs: { count: c.out.count } });
        // @ts-expect-error outputs that do not exist are not offered
        void f.out.missing;
      },
    });
    // The runtime validator catches the same mistakes for JavaScript callers.
    expect(() => validatePipeline(pipeline)).toThrow(/INPUT_KIND_MISMATCH[\s\S]*INPUT_NOT_CONNECTED[\s\S]*CONFIG_INVALID/);
  });
});
