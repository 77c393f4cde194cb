import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FlowWorkflow } from './flow-workflow.js';

// The flywheel's return path: mirroring (steps/release/mirror.ts) writes the requests the candidate lost,
// and the next run's synthesize step reads them back as training examples.

/** A request the candidate lost, with the workflow the judge preferred: training data for the next run. */
export const FeedbackExample = z.object({ from: z.string(), request: z.string(), base: FlowWorkflow.optional(), workflow: FlowWorkflow });
export type FeedbackExample = z.infer<typeof FeedbackExample>;

export function feedbackPath(location?: string): string {
  return join(resolve(location ?? process.env.FLYWHEEL_FEEDBACK ?? join('.flywheel', 'feedback')), 'mirror-losses.jsonl');
}
