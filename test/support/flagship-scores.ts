// The flagship's per-example benchmark scores from two real runs of its local profile: the default and
// one with a hotter synthesis temperature (two models of equal quality, as the weekly operator saw them).
// The slice-gate simulations start from these.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ItemScores } from '../../steps/flow-agent/slice-gate.js';
import { parsePredictionScores } from '../../steps/release/item-scores.js';
import { runCli } from './cli.js';

export async function flagshipScorePair(): Promise<{ before: ItemScores[]; after: ItemScores[] }> {
  const cwd = await mkdtemp(join(tmpdir(), 'flywheel-flagship-scores-'));
  const env = { OPENAI_API_KEY: '' };
  try {
    const scores = async (args: string[]): Promise<ItemScores[]> => {
      const run = await runCli(['run', 'flow-agent', ...args], { cwd, env });
      if (run.code !== 0) throw new Error(`the flagship run failed: ${run.stderr}`);
      const predictions = await runCli(['output', 'evaluate.predictions'], { cwd, env });
      return parsePredictionScores(predictions.stdout);
    };
    return { before: await scores([]), after: await scores(['--set', 'synthesize-each.temperature=0.9']) };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
