// Writes the committed judge calibration set (deterministic; re-run to regenerate):
//   data/judge/calibration.jsonl   240 agent outputs labelled by two annotators, development / held-out
//   data/judge/golden.jsonl        the frozen golden set: other requests, only items both annotators agree on
//   npx tsx scripts/generate-judge-data.ts
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { toJsonl } from '../steps/flow-agent/fixture-data.js';
import { calibrationFixture, goldenFixture } from '../steps/judge/fixture-data.js';

const dir = fileURLToPath(new URL('../data/judge/', import.meta.url));
await mkdir(dir, { recursive: true });
const items = calibrationFixture();
await writeFile(`${dir}calibration.jsonl`, toJsonl(items));
const golden = goldenFixture();
await writeFile(`${dir}golden.jsonl`, toJsonl(golden));
console.log(`${items.length} calibration items and ${golden.length} golden items in ${dir}`);
