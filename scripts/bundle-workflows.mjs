// Bundles the compiled workflows once at build time; workers load the file instead of re-bundling on start.
import { rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const entry = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const target = fileURLToPath(new URL('../dist/workflows/bundle.js', import.meta.url));
const { code } = await bundleWorkflowCode({
  workflowsPath: entry,
  logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
});
await writeFile(`${target}.tmp`, code);
await rename(`${target}.tmp`, target);
console.log(`workflow bundle: ${target} (${Math.round(code.length / 1024)} KiB)`);
