import { TASKS } from './flow-catalog.js';
import { editWorkflow, generateWorkflow } from './corpus-generator.js';
import type { FlowWorkflow } from './flow-workflow.js';
import { offlineRequest } from './offline-request-writer.js';
import { SeededRandom } from '../stats/seeded-random.js';
import { validateFlow } from './validate-flow.js';
import { workflowDescriptor } from './workflow-descriptor.js';

/** The slices evaluation reports separately: where a hand-written benchmark was blind. */
export interface Slices {
  triggerCategory: string;
  kind: 'create' | 'edit';
  email: boolean;
  thirdParty: boolean;
}

export interface BenchmarkExample {
  id: string;
  request: string;
  /** For edits: the workflow the merchant asks to change. */
  base?: FlowWorkflow;
  expected: FlowWorkflow;
  descriptor: string;
  slices: Slices;
}

export function slicesOf(workflow: FlowWorkflow, kind: 'create' | 'edit'): Slices {
  const categories = workflow.steps.map((s) => TASKS.get(s.task_id)?.category);
  const trigger = workflow.steps.find((s) => s.task_type === 'TRIGGER');
  return {
    triggerCategory: TASKS.get(trigger?.task_id ?? '')?.category ?? 'unknown',
    kind,
    email: categories.includes('email'),
    thirdParty: categories.includes('third-party'),
  };
}

/**
 * A held-out benchmark: `count` request → workflow examples (a fifth of them edits of an existing
 * workflow) none of whose workflows has a descriptor in `exclude` (the training side's).
 */
export function generateBenchmark(seed: number, count: number, exclude: ReadonlySet<string>): BenchmarkExample[] {
  const rng = new SeededRandom(seed);
  const examples: BenchmarkExample[] = [];
  const seen = new Set<string>();
  for (let attempt = 0; examples.length < count && attempt < count * 50; attempt++) {
    const label = `bench-${examples.length}`;
    const edit = rng.chance(0.2);
    const base = generateWorkflow(rng, label);
    const expected = edit ? editWorkflow(rng, base) : base;
    const descriptor = workflowDescriptor(expected);
    const leaks = exclude.has(descriptor) || (edit && exclude.has(workflowDescriptor(base)));
    if (leaks || seen.has(descriptor) || validateFlow(expected).length > 0) continue;
    seen.add(descriptor);
    examples.push({
      id: `b-${String(examples.length).padStart(3, '0')}`,
      request: offlineRequest(expected, examples.length, edit ? base : undefined),
      ...(edit ? { base } : {}),
      expected,
      descriptor,
      slices: slicesOf(expected, edit ? 'edit' : 'create'),
    });
  }
  if (examples.length < count) throw new Error(`could only make ${examples.length} of ${count} held-out examples from seed ${seed}`);
  return examples;
}
