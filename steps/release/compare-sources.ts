import type { Digest, PipelineComparison, RunRecord, Store } from 'flywheel';
import { compareSections, formatSections, SECTION_ITEMS, SECTION_OUTPUTS, type SectionSource } from './compare-sections.js';

// What the flagship's comparison sections read from a run's outputs, for `flywheel compare` and the run view.

/** Outputs larger than this are not parsed for the comparison sections (they are metrics, small by nature). */
const MAX_SECTION_BYTES = 64 * 1024 * 1024;

/** A JSON Lines blob's parsed lines; a line that is not JSON is left out. */
async function readJsonLines(store: Store, digest: Digest): Promise<unknown[]> {
  return (await store.readBytes(digest))
    .toString('utf8')
    .split('\n')
    .flatMap((line) => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch {
        return [];
      }
    });
}

/**
 * What the flagship's comparison sections read from one run: for each step that has a section output,
 * its value parsed as plain JSON (and its items, for the evaluation), or a note saying why not.
 * Steps of other pipelines have no section outputs, so their comparisons have no sections.
 */
export async function sectionSources(store: Store, run: RunRecord, cache: Map<string, Promise<unknown>>): Promise<SectionSource[]> {
  const parse = (digest: Digest): Promise<unknown> => {
    let value = cache.get(digest);
    if (value === undefined) {
      value = store.readBytes(digest).then((bytes) => JSON.parse(bytes.toString('utf8')) as unknown);
      cache.set(digest, value);
    }
    return value;
  };
  const sources: SectionSource[] = [];
  for (const step of run.steps) {
    const name = SECTION_OUTPUTS[step.step];
    if (name === undefined) continue;
    const base = { node: step.id, step: step.step, status: step.status };
    const output = step.outputs[name];
    if (output === undefined) {
      sources.push({ ...base, value: undefined, note: step.error === undefined ? null : `${step.error.code}: ${step.error.message}` });
      continue;
    }
    if (output.kind !== 'json') {
      sources.push({ ...base, value: undefined, note: `${name} is a ${output.kind}, not JSON` });
      continue;
    }
    try {
      const itemsOutput = step.outputs[SECTION_ITEMS[step.step] ?? ''];
      const items = itemsOutput === undefined || itemsOutput.size > MAX_SECTION_BYTES ? undefined : await readJsonLines(store, itemsOutput.digest);
      if (output.size > MAX_SECTION_BYTES) throw new Error(`${output.size} bytes, too large to compare here`);
      sources.push({ ...base, value: await parse(output.digest), note: null, ...(items === undefined ? {} : { items }) });
    } catch (error) {
      sources.push({ ...base, value: undefined, note: `unreadable (${(error as Error).message})` });
    }
  }
  return sources;
}

/** The flagship's part of a comparison (its `extensions.compare`): the sections of both runs, and their lines for the terminal. */
export async function compareFlowAgentRuns({ store, a, b }: { store: Store; a: RunRecord; b: RunRecord }): Promise<PipelineComparison> {
  const reads = new Map<string, Promise<unknown>>();
  const sections = compareSections(await sectionSources(store, a, reads), await sectionSources(store, b, reads));
  return { sections, lines: formatSections(sections) };
}
