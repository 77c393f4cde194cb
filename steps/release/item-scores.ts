import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sha256Bytes, writeFileWhole } from 'flywheel';
import { ItemScores } from '../flow-agent/slice-gate.js';
import { sliceKeys, SliceTags } from '../flow-agent/score-workflow.js';
import type { ModelRegistry } from './model-registry.js';

// A version's per-example benchmark scores, kept beside the registry entry: what the slice gate pairs a
// later candidate with (the summary alone cannot tell a real regression from a slice's noise).

const ItemScoresFile = z.object({ format: z.literal('flywheel.item-scores/v1'), items: z.array(ItemScores) });

/** One line of evaluate's predictions file, as far as the gate reads it. */
const PredictionLine = z.object({ id: z.string(), request: z.string(), slices: SliceTags, scores: z.record(z.string(), z.number().nullable()) });

/** The per-example scores in evaluate's predictions file (one JSON object per line). */
export async function readPredictionScores(path: string): Promise<ItemScores[]> {
  return parsePredictionScores(await readFile(path, 'utf8'));
}

export function parsePredictionScores(text: string): ItemScores[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const p = PredictionLine.parse(JSON.parse(line));
      return { id: p.id, request: sha256Bytes(Buffer.from(p.request)).slice(0, 16), slices: sliceKeys(p.slices), scores: p.scores };
    });
}

const itemScoresPath = (registry: ModelRegistry, version: number): string => join(registry.root, 'scores', `v${version}.json`);

export async function writeItemScores(registry: ModelRegistry, version: number, items: readonly ItemScores[]): Promise<void> {
  await mkdir(join(registry.root, 'scores'), { recursive: true });
  await writeFileWhole(itemScoresPath(registry, version), `${JSON.stringify({ format: 'flywheel.item-scores/v1', items })}\n`);
}

/** A version's per-example scores, or undefined for one registered before they were kept (or whose file is unreadable). */
export async function readItemScores(registry: ModelRegistry, version: number): Promise<ItemScores[] | undefined> {
  const text = await readFile(itemScoresPath(registry, version), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let parsed;
  try {
    parsed = ItemScoresFile.safeParse(JSON.parse(text));
  } catch {
    return undefined;
  }
  return parsed.success ? parsed.data.items : undefined;
}
