import { z } from 'zod';
import { FlowWorkflow } from './flow-workflow.js';

// The local profile's real, small model: TF-IDF retrieval over the synthesized requests. It answers
// with the workflow of the most similar training request, adapted to the numbers and quoted values
// of the new request. It is the offline stand-in for the fine-tuned LLM, and says so in its outputs.

export const RetrievalModel = z.object({
  format: z.literal('flow-retrieval/v1'),
  vocabulary: z.array(z.string()),
  idf: z.array(z.number()),
  examples: z.array(z.object({ vector: z.array(z.tuple([z.number().int(), z.number()])), workflow: FlowWorkflow })),
});
export type RetrievalModel = z.infer<typeof RetrievalModel>;

function tokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9@.]+/g) ?? [];
}

function vectorize(text: string, index: Map<string, number>, idf: readonly number[]): Array<[number, number]> {
  const counts = new Map<number, number>();
  for (const t of tokens(text)) {
    const i = index.get(t);
    if (i !== undefined) counts.set(i, (counts.get(i) ?? 0) + 1);
  }
  const weighted = [...counts].map(([i, c]): [number, number] => [i, (1 + Math.log(c)) * (idf[i] ?? 0)]);
  const norm = Math.hypot(...weighted.map(([, w]) => w)) || 1;
  return weighted.map(([i, w]): [number, number] => [i, w / norm]).sort((a, b) => a[0] - b[0]);
}

export function trainRetrieval(examples: ReadonlyArray<{ request: string; workflow: FlowWorkflow }>): RetrievalModel {
  const documentFrequency = new Map<string, number>();
  for (const e of examples) for (const t of new Set(tokens(e.request))) documentFrequency.set(t, (documentFrequency.get(t) ?? 0) + 1);
  const vocabulary = [...documentFrequency.keys()].sort();
  const idf = vocabulary.map((t) => Math.log((1 + examples.length) / (1 + (documentFrequency.get(t) ?? 0))) + 1);
  const index = new Map(vocabulary.map((t, i) => [t, i]));
  return { format: 'flow-retrieval/v1', vocabulary, idf, examples: examples.map((e) => ({ vector: vectorize(e.request, index, idf), workflow: e.workflow })) };
}

function cosine(a: ReadonlyArray<[number, number]>, b: ReadonlyArray<[number, number]>): number {
  let i = 0;
  let j = 0;
  let sum = 0;
  while (i < a.length && j < b.length) {
    const [ai, aw] = a[i] as [number, number];
    const [bi, bw] = b[j] as [number, number];
    if (ai <= bi) i++;
    if (bi <= ai) j++;
    if (ai === bi) sum += aw * bw;
  }
  return sum;
}

/** Puts the request's numbers into numeric comparisons and its quoted values into tag lists. */
function adapt(workflow: FlowWorkflow, request: string): FlowWorkflow {
  const adapted = structuredClone(workflow);
  const numbers = (request.match(/\b\d+(\.\d+)?\b/g) ?? []).map(Number);
  const quoted = [...request.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
  let n = 0;
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const c = node as Record<string, unknown>;
    if (c.kind === 'compare' && typeof c.value === 'number' && n < numbers.length) c.value = numbers[n++];
    for (const value of Object.values(c)) visit(value);
  };
  for (const step of adapted.steps) {
    if (step.task_type === 'CONDITION') visit(step.config.condition);
    if (Array.isArray(step.config.tags) && quoted.length > 0) step.config.tags = [quoted[0]];
  }
  return adapted;
}

export function predictWorkflow(model: RetrievalModel, request: string): FlowWorkflow | undefined {
  const index = new Map(model.vocabulary.map((t, i) => [t, i]));
  const query = vectorize(request, index, model.idf);
  let best: { score: number; workflow: FlowWorkflow } | undefined;
  for (const e of model.examples) {
    const score = cosine(query, e.vector);
    if (best === undefined || score > best.score) best = { score, workflow: e.workflow };
  }
  return best === undefined ? undefined : adapt(best.workflow, request);
}
