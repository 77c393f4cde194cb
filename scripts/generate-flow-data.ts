// Writes the committed fixture data of the flagship pipeline (deterministic; re-run to regenerate):
//   data/flow-agent/production-workflows.jsonl  a production export: 300 merchants' workflows
//   data/flow-agent/benchmark.jsonl             300 held-out request → workflow examples
//   data/flow-agent/traffic.jsonl               120 recorded production requests, for mirroring
//   npx tsx scripts/generate-flow-data.ts
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { flowFixtureData, toJsonl, trafficFixture } from '../steps/flow-agent/fixture-data.js';

const { corpus, benchmark } = flowFixtureData();
const dir = fileURLToPath(new URL('../data/flow-agent/', import.meta.url));
await writeFile(`${dir}production-workflows.jsonl`, toJsonl(corpus));
await writeFile(`${dir}benchmark.jsonl`, toJsonl(benchmark));
const traffic = trafficFixture();
await writeFile(`${dir}traffic.jsonl`, toJsonl(traffic));
console.log(`${corpus.length} production workflows, ${benchmark.length} benchmark examples, ${traffic.length} traffic requests in ${dir}`);
