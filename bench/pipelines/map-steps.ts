// The steps of bench (f): a source of 10,000 items and one trivial operation per item, as a map
// element or as one plain step over them all. Loaded by the in-process bench and, through the two
// pipeline files beside this one, by `flywheel run --engine temporal` and its workers.
import { z } from 'zod';
import { defineStep, json } from 'flywheel';

const Item = z.object({ id: z.number().int(), text: z.string() });
type Item = z.infer<typeof Item>;

const item = (i: number, changed: number): Item => ({ id: i, text: i === changed ? `changed ${i}` : `item ${i}` });
const shout = (x: Item): Item => ({ id: x.id, text: x.text.toUpperCase() });

/** `n` items; item `changed` (-1: none) differs, so each one-changed sample really runs something. */
export const source = defineStep({
  id: 'bench-map-source',
  version: 1,
  config: z.object({ n: z.number().int(), changed: z.number().int().default(-1) }),
  outputs: { items: json(z.array(Item)) },
  run: ({ config }) => ({ items: Array.from({ length: config.n }, (_, i) => item(i, config.changed)) }),
});

export const shoutOne = defineStep({
  id: 'bench-map-shout',
  version: 1,
  inputs: { item: json(Item) },
  outputs: { out: json(Item) },
  run: ({ inputs }) => ({ out: shout(inputs.item) }),
});

export const shoutAll = defineStep({
  id: 'bench-map-shout-all',
  version: 1,
  inputs: { items: json(z.array(Item)) },
  outputs: { out: json(z.array(Item)) },
  run: ({ inputs }) => ({ out: inputs.items.map(shout) }),
});
